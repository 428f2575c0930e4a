"""Who is calling: a bearer JWT (people, bodies' systems) or an X-API-Key (a body's system), and what they may do.

API keys are checked by the bodies service; its verdicts are cached here for a short while (30 s by default;
a refusal for 5 s), and a key revoked through this gateway is forgotten at once (other replicas within the TTL).
"""

from __future__ import annotations

import hashlib
import time
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from rectrack.common.auth import Principal, UserTokenVerifier
from rectrack.common.errors import Problem, not_found
from rectrack.common.settings import PlatformSettings
from rectrack.gateway.clients.bodies import BodiesClient, get_bodies_client
from rectrack.gateway.config import GatewaySettings

API_KEY_HEADER = "X-API-Key"
API_KEY_SUBJECT_PREFIX = "api-key:"
_CACHE_LIMIT = 10_000

bearer_scheme = HTTPBearer(auto_error=False, description="A user token (`rectrack token issue ...`).")
api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False,
                              description="A body's API key (`rtk_<key id>_<secret>`).")


def unauthenticated(detail: str) -> Problem:
    """401 with the challenge."""
    return Problem(401, "unauthenticated", "Authentication required", detail,
                   headers={"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'})


class Authenticator:
    """Turns credentials into a Principal."""

    def __init__(self, platform: PlatformSettings, settings: GatewaySettings) -> None:
        self.tokens = UserTokenVerifier(platform)
        self.ttl = settings.api_key_cache_seconds
        self.negative_ttl = settings.api_key_negative_cache_seconds
        # sha256(key) -> (expires at, principal or None for a refused key)
        self._verdicts: dict[str, tuple[float, Principal | None]] = {}

    async def authenticate(self, bodies: BodiesClient, bearer: str | None, api_key: str | None) -> Principal:
        """The caller; 401 without valid credentials."""
        if bearer:
            return self.tokens.verify(bearer)
        if api_key:
            return await self._api_key_principal(bodies, api_key)
        raise unauthenticated(f"send Authorization: Bearer <token> or {API_KEY_HEADER}: <key>")

    async def _api_key_principal(self, bodies: BodiesClient, key: str) -> Principal:
        digest = hashlib.sha256(key.encode()).hexdigest()
        now = time.monotonic()
        cached = self._verdicts.get(digest)
        if cached is not None and cached[0] > now:
            principal = cached[1]
        else:
            verdict = await bodies.verify_api_key(key) if len(key) <= 300 else None
            principal = None if verdict is None else Principal(
                kind="body", subject=f"{API_KEY_SUBJECT_PREFIX}{verdict['key_id']}", name=verdict.get("name"),
                body_id=verdict["body_id"])
            if len(self._verdicts) >= _CACHE_LIMIT:
                self._verdicts.clear()
            self._verdicts[digest] = (now + (self.ttl if principal else self.negative_ttl), principal)
        if principal is None:
            raise unauthenticated("the API key is unknown or revoked")
        return principal

    def forget_key(self, key_id: str) -> None:
        """Drop the cached verdict of a key (after it was revoked through this gateway)."""
        subject = f"{API_KEY_SUBJECT_PREFIX}{key_id}"
        for digest, (_, principal) in list(self._verdicts.items()):
            if principal is not None and principal.subject == subject:
                self._verdicts.pop(digest, None)


def get_authenticator(request: Request) -> Authenticator:
    """The app's authenticator."""
    return request.app.state.authenticator  # type: ignore[no-any-return]


async def current_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
    api_key: Annotated[str | None, Security(api_key_scheme)],
) -> Principal:
    """The authenticated caller of this request."""
    if bearer is None and request.headers.get("Authorization"):
        raise unauthenticated("the Authorization header must be: Bearer <token>")
    return await get_authenticator(request).authenticate(get_bodies_client(request),
                                                         bearer.credentials if bearer else None, api_key)


Caller = Annotated[Principal, Depends(current_principal)]


def require_staff(principal: Principal) -> None:
    """Inspectorate staff only (any role)."""
    if not principal.is_staff:
        raise Problem(403, "forbidden", "Forbidden", "this needs an inspectorate account")


def require_admin(principal: Principal, what: str = "this") -> None:
    """Administrators only."""
    if not principal.is_admin:
        raise Problem(403, "forbidden", "Forbidden", f"only administrators may do {what}")


def require_body_visible(principal: Principal, body_id: str) -> None:
    """404, as if it did not exist, when a body principal names another body."""
    if not principal.may_see_body(body_id):
        raise not_found("body")


def is_api_key(principal: Principal) -> bool:
    """True when the caller authenticated with an API key rather than as a person."""
    return principal.kind == "body" and principal.subject.startswith(API_KEY_SUBJECT_PREFIX)
