"""Per-principal rate limit: a token bucket per caller, 429 problem+json with Retry-After when it is empty.

The caller is the authenticated principal (`<kind>:<subject>`: a staff member, a body's user, or an API key
by its key id, since an API key's subject is `api-key:<key id>`); a request without valid credentials is
limited per client IP, so guessing tokens or keys is throttled too (each guessed API key costs the bodies
service a verification).

The buckets are pyrate-limiter's (`StateBucket` with the `TokenBucket` algorithm: GCRA, a few numbers per key,
an exact retry-after in closed form, no background leak task). Its `Limiter` front is not used: it answers a
bare yes/no without the wait that Retry-After needs and has no per-key eviction, so this module keeps one
bucket per key itself, least recently used first out past `rate_limit_max_keys` (a bucket idle for
burst/rate seconds is full again, so forgetting it loses nothing).

The state is in-process: each gateway replica limits separately, so with N replicas a caller may get up to
N times the configured rate. `rate_limit_per_second = None` turns it off (benchmarks).

It runs as an app-wide FastAPI dependency (`enforce_rate_limit`), before the route's own dependencies and
before any downstream call; liveness and readiness probes are exempt.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from threading import Lock

from fastapi import Request
from pyrate_limiter import Duration, MonotonicClock, Rate, RateItem, StateBucket, TokenBucket

from rectrack.common.auth import Principal
from rectrack.common.errors import Problem
from rectrack.gateway.auth import API_KEY_HEADER, get_authenticator
from rectrack.gateway.clients.bodies import get_bodies_client
from rectrack.gateway.config import GatewaySettings

EXEMPT_PATHS = frozenset({"/healthz", "/readyz"})
# Rates are kept as "limit per 1000 s" so a fractional rate per second stays exact (GCRA works in integers).
_WINDOW_MS = Duration.SECOND * 1000


class RateLimiter:
    """A token bucket per key: `rate` tokens a second, at most `burst` saved up."""

    def __init__(self, rate_per_second: float, burst: int, max_keys: int = 100_000) -> None:
        self.rate_per_second = rate_per_second
        self.burst = burst
        self.max_keys = max_keys
        self._rates = [Rate(max(1, round(rate_per_second * 1000)), _WINDOW_MS, burst)]
        self._algorithm = TokenBucket()
        self._clock = MonotonicClock()
        self._buckets: OrderedDict[str, StateBucket] = OrderedDict()
        self._lock = Lock()

    def _bucket(self, key: str) -> StateBucket:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = StateBucket(self._rates, algorithm=self._algorithm, clock=self._clock)
                self._buckets[key] = bucket
                while len(self._buckets) > self.max_keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
            return bucket

    def acquire(self, key: str) -> float:
        """Take one token for `key`: 0 when admitted, else the seconds until one is available."""
        bucket = self._bucket(key)
        item = RateItem(key, self._clock.now())
        if bucket.put(item):
            return 0.0
        wait_ms = bucket.waiting(item)
        return max(float(wait_ms), 1.0) / 1000 if isinstance(wait_ms, int) and wait_ms >= 0 else 1.0

    def check(self, key: str) -> None:
        """Raise 429 (with Retry-After in whole seconds) when `key` is over its rate."""
        wait = self.acquire(key)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise Problem(429, "rate-limited", "Too many requests",
                          f"over the limit of {self.rate_per_second:g} requests a second (burst {self.burst}); "
                          f"retry after {retry_after} s", headers={"Retry-After": str(retry_after)},
                          retry_after=retry_after)


def build_rate_limiter(settings: GatewaySettings) -> RateLimiter | None:
    """The limiter the settings ask for, or None when rate limiting is off."""
    if settings.rate_limit_per_second is None:
        return None
    return RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst, settings.rate_limit_max_keys)


def principal_key(principal: Principal) -> str:
    """The bucket of an authenticated caller (an API key's subject names its key id)."""
    return f"{principal.kind}:{principal.subject}"


async def _caller_key(request: Request) -> str:
    """Who to charge: the principal when the credentials are valid, else the client's IP."""
    authenticator = get_authenticator(request)
    authorization = request.headers.get("Authorization", "")
    api_key = request.headers.get(API_KEY_HEADER)
    try:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return principal_key(authenticator.tokens.verify(token.strip()))
        if api_key and not authorization:
            # Verdicts are cached by the authenticator, so the route's own authentication does not ask again.
            return principal_key(await authenticator.authenticate(get_bodies_client(request), None, api_key))
    except Problem:
        pass
    return f"ip:{request.client.host if request.client else 'unknown'}"


async def enforce_rate_limit(request: Request) -> None:
    """App-wide dependency: charge the caller one token, or answer 429."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None or request.url.path in EXEMPT_PATHS:
        return
    limiter.check(await _caller_key(request))
