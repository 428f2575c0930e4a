"""The gateway's per-principal rate limit (429 + Retry-After), and X-Request-ID: echoed, and forwarded so the
service's event carries it as correlation_id. Uses the real bodies service and NATS of conftest.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import nats
from gateway_testkit import ThreadedServer, gateway_settings

from rectrack.common.auth import issue_user_token
from rectrack.common.events.envelope import Envelope
from rectrack.common.events.subjects import BODY_STREAM, BODY_UPDATED
from rectrack.common.settings import PlatformSettings
from rectrack.common.testing import NatsServer
from rectrack.gateway.main import create_app
from rectrack.gateway.ratelimit import RateLimiter

PROBLEM = "application/problem+json"


def bearer(platform: PlatformSettings, role: str, body_id: str | None = None, subject: str | None = None
           ) -> dict[str, str]:
    token = issue_user_token(platform, role=role, subject=subject or f"limits-{role}", body_id=body_id)
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def through_gateway(platform: PlatformSettings, bodies_url: str, **settings: Any
                          ) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway_settings(bodies_url, **settings), platform)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client


async def test_over_the_rate_a_principal_gets_429_with_retry_after(bodies_server: ThreadedServer,
                                                                    platform: PlatformSettings) -> None:
    async with through_gateway(platform, bodies_server.url, rate_limit_per_second=5, rate_limit_burst=3) as gateway:
        me = bearer(platform, "viewer", subject=f"busy-{uuid.uuid4().hex[:6]}")
        answers = [await gateway.get("/api/v1/bodies/kent-police", headers=me) for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        refused = answers[-1]
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["type"] == "urn:rectrack:problem:rate-limited" and refused.json()["status"] == 429
        assert int(refused.headers["retry-after"]) >= 1

        # Others have buckets of their own: another person, the same body's API key, anonymous callers (by IP).
        assert (await gateway.get("/api/v1/bodies/kent-police", headers=bearer(platform, "admin"))).status_code == 200
        key = (await gateway.post("/api/v1/bodies/kent-police/api-keys", json={"name": "limits"},
                                  headers=bearer(platform, "admin", subject="limits-admin-2"))).json()["key"]
        assert (await gateway.get("/api/v1/bodies/kent-police", headers={"X-API-Key": key})).status_code == 200
        assert (await gateway.get("/api/v1/bodies")).status_code == 401
        # Probes are never limited.
        assert [(await gateway.get("/healthz")).status_code for _ in range(10)] == [200] * 10

        await asyncio.sleep(0.3)  # 5 a second: a token is back after 0.2 s
        assert (await gateway.get("/api/v1/bodies/kent-police", headers=me)).status_code == 200


async def test_anonymous_callers_are_limited_per_ip_and_the_limit_can_be_off(bodies_server: ThreadedServer,
                                                                             platform: PlatformSettings) -> None:
    forged = {"Authorization": "Bearer not-a-token"}
    async with through_gateway(platform, bodies_server.url, rate_limit_per_second=1, rate_limit_burst=5) as gateway:
        statuses = [(await gateway.get("/api/v1/bodies", headers=forged)).status_code for _ in range(8)]
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    async with through_gateway(platform, bodies_server.url, rate_limit_per_second=None) as gateway:
        statuses = [(await gateway.get("/api/v1/bodies", headers=forged)).status_code for _ in range(150)]
        assert set(statuses) == {401}


def test_the_bucket_refills_at_the_rate_and_keys_are_bounded() -> None:
    limiter = RateLimiter(rate_per_second=10, burst=2, max_keys=3)
    assert limiter.acquire("a") == 0 and limiter.acquire("a") == 0
    wait = limiter.acquire("a")
    assert 0 < wait <= 0.11
    time.sleep(wait + 0.01)
    assert limiter.acquire("a") == 0
    for key in ("b", "c", "d", "e"):
        limiter.acquire(key)
    assert len(limiter._buckets) == 3  # least recently used forgotten; a fresh bucket is a full one
    assert limiter.acquire("a") == 0


async def test_request_id_is_echoed_and_carried_into_the_event(bodies_server: ThreadedServer,
                                                               platform: PlatformSettings,
                                                               nats_server: NatsServer) -> None:
    request_id = f"my-id-123-{uuid.uuid4().hex[:6]}"
    async with through_gateway(platform, bodies_server.url) as gateway:
        admin = bearer(platform, "admin")
        body = await gateway.get("/api/v1/bodies/dorset-police", headers=admin)
        patched = await gateway.patch("/api/v1/bodies/dorset-police", json={"region": f"South West {request_id}"},
                                      headers={**admin, "If-Match": body.headers["etag"], "X-Request-ID": request_id})
        assert patched.status_code == 200, patched.text
        assert patched.headers["x-request-id"] == request_id
        generated = await gateway.get("/api/v1/bodies/dorset-police", headers=admin)
        assert generated.headers["x-request-id"] and generated.headers["x-request-id"] != request_id

    envelope = await _event_with_correlation(nats_server.url, request_id)
    assert envelope.type == BODY_UPDATED and envelope.subject == "dorset-police"
    assert envelope.source == "bodies" and envelope.correlation_id == request_id


async def _event_with_correlation(url: str, correlation_id: str, seconds: float = 15.0) -> Envelope:
    """Read the BODY stream from the start until an event carries the correlation id."""
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(BODY_UPDATED, durable=None, stream=BODY_STREAM.name)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                messages = await sub.fetch(100, timeout=1)
            except nats.errors.TimeoutError:
                continue
            for message in messages:
                await message.ack()
                envelope = Envelope.from_bytes(message.data)
                if envelope.correlation_id == correlation_id:
                    return envelope
        raise AssertionError(f"no {BODY_UPDATED} event with correlation_id {correlation_id}")
    finally:
        await nc.close()
