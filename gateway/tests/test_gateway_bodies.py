"""The gateway in front of a real bodies service: authentication, authorisation, pass-through, failures."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from gateway_testkit import ThreadedServer, gateway_settings

from rectrack.common.auth import issue_user_token
from rectrack.common.settings import PlatformSettings
from rectrack.gateway.main import create_app

PROBLEM = "application/problem+json"


def bearer(platform: PlatformSettings, role: str, body_id: str | None = None) -> dict[str, str]:
    token = issue_user_token(platform, role=role, subject=f"test-{role}", name=f"Test {role}", body_id=body_id)
    return {"Authorization": f"Bearer {token}"}


async def test_admin_lists_the_43_police_forces(gateway: httpx.AsyncClient, platform: PlatformSettings) -> None:
    response = await gateway.get("/api/v1/bodies", params={"kind": "police_force", "limit": 100},
                                 headers=bearer(platform, "admin"))
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["total"] == 43 and len(doc["items"]) == 43 and doc["limit"] == 100
    assert {b["kind"] for b in doc["items"]} == {"police_force"}
    assert "west-midlands-police" in {b["id"] for b in doc["items"]}
    assert all("webhook_secret" not in b for b in doc["items"])


async def test_a_body_sees_only_itself(gateway: httpx.AsyncClient, platform: PlatformSettings) -> None:
    me = bearer(platform, "body", "west-midlands-police")
    listed = await gateway.get("/api/v1/bodies", params={"limit": 100}, headers=me)
    assert listed.status_code == 200
    assert [b["id"] for b in listed.json()["items"]] == ["west-midlands-police"]
    own = await gateway.get("/api/v1/bodies/west-midlands-police", headers=me)
    assert own.status_code == 200 and own.headers["etag"].strip('"').isdigit()
    other = await gateway.get("/api/v1/bodies/west-mercia-police", headers=me)
    assert other.status_code == 404 and other.headers["content-type"] == PROBLEM
    assert (await gateway.get("/api/v1/bodies/west-mercia-police/api-keys", headers=me)).status_code == 404
    assert (await gateway.patch("/api/v1/bodies/west-mercia-police", json={"name": "x"},
                                headers=me)).status_code == 404
    assert (await gateway.patch("/api/v1/bodies/west-midlands-police", json={"name": "x"},
                                headers=me)).status_code == 403


async def test_roles_and_credentials(gateway: httpx.AsyncClient, platform: PlatformSettings) -> None:
    doc = {"code": f"gw-{uuid.uuid4().hex[:8]}", "name": "Gateway Police", "kind": "police_force"}
    viewer = await gateway.post("/api/v1/bodies", json=doc, headers=bearer(platform, "viewer"))
    assert viewer.status_code == 403 and viewer.headers["content-type"] == PROBLEM
    inspector = await gateway.post("/api/v1/bodies", json=doc, headers=bearer(platform, "inspector"))
    assert inspector.status_code == 403
    assert (await gateway.get("/api/v1/bodies/essex-police", headers=bearer(platform, "viewer"))).status_code == 200

    anonymous = await gateway.get("/api/v1/bodies")
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == PROBLEM
    assert "www-authenticate" in anonymous.headers
    for headers in ({"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic dXNlcjpwYXNz"},
                    {"X-API-Key": "rtk_0000_nope"}, {"X-API-Key": "x" * 5000}):
        response = await gateway.get("/api/v1/bodies", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == PROBLEM
    other_secret = PlatformSettings(jwt_secret="another-secret-that-is-long-enough-0123456789")
    forged = await gateway.get("/api/v1/bodies", headers=bearer(other_secret, "admin"))
    assert forged.status_code == 401


async def test_admin_creates_updates_and_deactivates(gateway: httpx.AsyncClient, platform: PlatformSettings) -> None:
    admin = bearer(platform, "admin")
    code = f"gw-{uuid.uuid4().hex[:8]}"
    created = await gateway.post("/api/v1/bodies", headers=admin, json={
        "code": code, "name": "Gateway Fire", "kind": "fire_and_rescue_service", "region": "London",
        "webhook_url": "https://hooks.example.org/gw", "webhook_secret": "0123456789abcdef"})
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"/api/v1/bodies/{code}"
    assert created.headers["etag"] == '"1"' and created.json()["webhook_secret_set"] is True
    patched = await gateway.patch(f"/api/v1/bodies/{code}", json={"region": "South East"},
                                  headers={**admin, "If-Match": created.headers["etag"]})
    assert patched.status_code == 200 and patched.headers["etag"] == '"2"'
    stale = await gateway.patch(f"/api/v1/bodies/{code}", json={"region": "Wales"},
                                headers={**admin, "If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
    assert stale.json()["current_version"] == 2 and stale.json()["instance"] == f"/api/v1/bodies/{code}"
    malformed = await gateway.post("/api/v1/bodies", content=b"{nope", headers={
        **admin, "Content-Type": "application/json"})
    assert malformed.status_code == 400 and malformed.headers["content-type"] == PROBLEM
    bad_kind = await gateway.post("/api/v1/bodies", json={"code": "x-y", "name": "X", "kind": "navy"}, headers=admin)
    assert bad_kind.status_code == 422
    bad_slug = await gateway.get("/api/v1/bodies/Not_A_Slug", headers=admin)
    assert bad_slug.status_code == 422 and bad_slug.headers["content-type"] == PROBLEM
    gone = await gateway.post(f"/api/v1/bodies/{code}/deactivate", json={"status": "abolished", "reason": "test"},
                              headers=admin)
    assert gone.status_code == 200 and gone.json()["status"] == "abolished"


async def test_api_keys_act_as_their_body_until_revoked(gateway: httpx.AsyncClient,
                                                        platform: PlatformSettings) -> None:
    admin = bearer(platform, "admin")
    created = await gateway.post("/api/v1/bodies/kent-police/api-keys", json={"name": "records system"},
                                 headers=admin)
    assert created.status_code == 201, created.text
    key, key_id = created.json()["key"], created.json()["id"]
    as_key = {"X-API-Key": key}

    listed = await gateway.get("/api/v1/bodies", headers=as_key)
    assert listed.status_code == 200 and [b["id"] for b in listed.json()["items"]] == ["kent-police"]
    assert (await gateway.get("/api/v1/bodies/kent-police", headers=as_key)).status_code == 200
    assert (await gateway.get("/api/v1/bodies/essex-police", headers=as_key)).status_code == 404
    # A key cannot mint or revoke keys, not even its own body's.
    assert (await gateway.post("/api/v1/bodies/kent-police/api-keys", json={}, headers=as_key)).status_code == 403
    assert (await gateway.delete(f"/api/v1/bodies/kent-police/api-keys/{key_id}",
                                 headers=as_key)).status_code == 403

    keys = await gateway.get("/api/v1/bodies/kent-police/api-keys", headers=as_key)
    assert keys.status_code == 200
    assert key_id in {k["id"] for k in keys.json()["items"]} and key not in keys.text

    revoked = await gateway.delete(f"/api/v1/bodies/kent-police/api-keys/{key_id}", headers=admin)
    assert revoked.status_code == 204
    refused = await gateway.get("/api/v1/bodies/kent-police", headers=as_key)
    assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM


async def test_a_body_user_manages_its_own_keys(gateway: httpx.AsyncClient, platform: PlatformSettings) -> None:
    me = bearer(platform, "body", "surrey-police")
    created = await gateway.post("/api/v1/bodies/surrey-police/api-keys", json={"name": "ours"}, headers=me)
    assert created.status_code == 201
    key_id = created.json()["id"]
    assert (await gateway.get("/api/v1/bodies/surrey-police", headers={"X-API-Key": created.json()["key"]})
            ).status_code == 200
    assert (await gateway.delete(f"/api/v1/bodies/surrey-police/api-keys/{key_id}", headers=me)).status_code == 204
    inspector = bearer(platform, "inspector")
    assert (await gateway.post("/api/v1/bodies/surrey-police/api-keys", json={},
                               headers=inspector)).status_code == 403
    assert (await gateway.get("/api/v1/bodies/surrey-police/api-keys", headers=inspector)).status_code == 200


async def test_request_id_health_docs_and_size_limit(gateway: httpx.AsyncClient, platform: PlatformSettings) -> None:
    response = await gateway.get("/api/v1/bodies/dorset-police", headers={
        **bearer(platform, "viewer"), "X-Request-ID": "tour-123"})
    assert response.headers["x-request-id"] == "tour-123"
    assert (await gateway.get("/healthz")).json() == {"status": "ok"}
    ready = await gateway.get("/readyz")
    assert ready.status_code == 503  # recommendations and notifications are not running here
    assert ready.json()["checks"]["bodies"] == "ok"
    assert ready.json()["checks"]["recommendations"].startswith("unavailable")
    spec = (await gateway.get("/openapi.json")).json()
    assert {"bodies", "staff", "health"} <= {t["name"] for t in spec["tags"]}
    assert "/api/v1/bodies/{body_id}/api-keys/{key_id}" in spec["paths"]
    assert (await gateway.get("/docs")).status_code == 200
    big = await gateway.post("/api/v1/bodies", content=b"x" * (65 * 1024), headers={
        **bearer(platform, "admin"), "Content-Type": "application/json"})
    assert big.status_code == 413 and big.headers["content-type"] == PROBLEM


async def _through_gateway(platform: PlatformSettings, bodies_url: str, request: Any, **settings: Any
                           ) -> httpx.Response:
    app = create_app(gateway_settings(bodies_url, **settings), platform)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        return await request(client)  # type: ignore[no-any-return]


async def test_bodies_down_is_503_naming_it(platform: PlatformSettings) -> None:
    dead = "http://127.0.0.1:1"
    for request in (lambda c: c.get("/api/v1/bodies", headers=bearer(platform, "admin")),
                    lambda c: c.get("/api/v1/bodies", headers={"X-API-Key": "rtk_abc_def"})):
        response = await _through_gateway(platform, dead, request)
        assert response.status_code == 503 and response.headers["content-type"] == PROBLEM
        assert response.json()["service"] == "bodies" and "bodies" in response.json()["detail"]


async def test_slow_bodies_is_504_naming_it(platform: PlatformSettings) -> None:
    slow_app = FastAPI()

    @slow_app.get("/bodies")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(3)
        return {}

    server = await asyncio.to_thread(ThreadedServer(slow_app).start)
    try:
        response = await _through_gateway(platform, server.url,
                                          lambda c: c.get("/api/v1/bodies", headers=bearer(platform, "admin")),
                                          downstream_timeout=0.3)
    finally:
        await asyncio.to_thread(server.stop)
    assert response.status_code == 504 and response.headers["content-type"] == PROBLEM
    assert response.json()["service"] == "bodies"
