"""Object-level authorisation, generated over every gateway route that takes an id, against the real services.

The table CASES maps each (method, path) to how the object of body A is named and what body B's credentials (a
body user's token and an API key) must get: 404 for reads (as if it did not exist), 404 or 403 for writes it may
never do. A route with a path parameter and no case fails the suite: add its case when you add the route.
The owner (body A) reads the same ids successfully, so a 404 is never just a wrong id; no 404/403 answer to B
names A's object (its ids, reference, title, narrative...). The services run for real (gateway_testkit's
`start_services`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from gateway_testkit import BODY_A, BODY_B, PDF, Services, api_routes, bearer, issue_to, ok, start_services, wait_for

from rectrack.common.settings import PlatformSettings
from rectrack.gateway.config import GatewaySettings
from rectrack.gateway.main import create_app

# --- fixtures ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        running = start_services(tmp_path_factory.mktemp("authz"), monkeypatch)
        try:
            yield running
        finally:
            running.stop()


@pytest.fixture(scope="module")
def app(services: Services) -> Any:
    return create_app(services.gateway_settings(), services.platform)


@pytest.fixture
async def gateway(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client


@dataclass
class World:
    """Body A's objects, and who asks."""

    ids: dict[str, str]
    secrets: list[str]  # text of A's objects that must never reach body B
    owner: dict[str, str]
    intruders: dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def world(app: Any, services: Services) -> World:
    """A recommendation of body A with progress, evidence, an extension request, an API key, a notice, a delivery."""
    platform = services.platform

    async def build() -> World:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
            staff = bearer(platform, "inspector")
            admin = bearer(platform, "admin")
            owner = bearer(platform, "body", BODY_A)
            marker = uuid.uuid4().hex[:10]
            title, reference = f"Secret title {marker}", f"REF-{marker}"
            report = ok(await client.post("/api/v1/reports", json={
                "title": f"Report {marker}", "kind": "peel", "level": "local"}, headers=staff), 201)
            [rec] = await issue_to(client, staff, [BODY_A], report_id=report["id"],
                                   due=date.today() + timedelta(days=30), reference=reference, title=title)
            rid = rec["id"]
            started = ok(await client.post(f"/api/v1/recommendations/{rid}/transitions", json={"action": "start"},
                                           headers={**owner, "If-Match": f'"{rec["version"]}"'}))
            assert started["state"] == "in_progress"
            narrative = f"Secret narrative {marker}"
            ok(await client.post(f"/api/v1/recommendations/{rid}/progress", headers=owner,
                                 data={"narrative": narrative, "rag": "amber"},
                                 files=[("files", (f"evidence-{marker}.pdf", PDF, "application/pdf"))]), 201)
            progress = ok(await client.get(f"/api/v1/recommendations/{rid}/progress", headers=owner))
            evidence_id = progress["items"][0]["evidence"][0]["id"]
            extension = ok(await client.post(f"/api/v1/recommendations/{rid}/extension-requests", headers=owner,
                                             json={"proposed_due_date": (date.today() + timedelta(days=90)).isoformat(),
                                                   "reason": f"Secret reason {marker}"}), 201)
            key = ok(await client.post(f"/api/v1/bodies/{BODY_A}/api-keys", json={"name": f"key {marker}"},
                                       headers=admin), 201)
            b_key = ok(await client.post(f"/api/v1/bodies/{BODY_B}/api-keys", json={"name": "b's system"},
                                         headers=admin), 201)
            notes = services.url("notifications")
            signer_headers = _internal_headers(services, "staff")

            async def notice() -> Any:
                async with httpx.AsyncClient(base_url=notes) as direct:
                    inbox = await direct.get("/notifications", headers=_internal_headers(services, "body", BODY_A))
                    found = [n for n in inbox.json().get("items", []) if n.get("recommendation_id") == rid]
                    return found[0]["id"] if found else None

            async def delivery() -> Any:
                async with httpx.AsyncClient(base_url=notes) as direct:
                    log = await direct.get("/notifications/deliveries", params={"body_id": BODY_A},
                                           headers=signer_headers)
                    items = log.json().get("items", [])
                    return items[0]["id"] if items else None

            notification_id = await wait_for(notice, "body A's notice of the issued recommendation")
            delivery_id = await wait_for(delivery, "a delivery to body A")
            ids = {"body_id": BODY_A, "key_id": key["id"], "report_id": report["id"], "group_id": rec["group_id"],
                   "recommendation_id": rid, "evidence_id": evidence_id, "request_id": extension["id"],
                   "notification_id": notification_id, "delivery_id": delivery_id}
            secrets = [title, reference, narrative, f"Secret reason {marker}", f"key {marker}", "West Midlands Police",
                       *(v for k, v in ids.items() if k not in ("body_id", "report_id"))]
            intruders = {"body B's user": bearer(platform, "body", BODY_B),
                         "body B's API key": {"X-API-Key": b_key["key"]}}
            return World(ids=ids, secrets=secrets, owner=owner, intruders=intruders)

    return asyncio.run(build())


def _internal_headers(services: Services, kind: str, body_id: str | None = None) -> dict[str, str]:
    from rectrack.common.auth import PRINCIPAL_HEADER, InternalSigner, Principal

    principal = Principal(kind=kind, subject=f"authz-{kind}", role="inspector" if kind == "staff" else None,  # type: ignore[arg-type]
                          body_id=body_id)
    return {PRINCIPAL_HEADER: InternalSigner(services.platform.internal_secret).sign(principal)}


# --- the matrix -------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """What body B gets on body A's object; `owner` is what A gets when it reads it (None: not tried)."""

    b_gets: frozenset[int]
    owner: int | None = None
    json: Any = None
    note: str = ""


def read(owner: int = 200) -> Case:
    return Case(frozenset({404}), owner)


def write(json: Any = None, b_gets: frozenset[int] = frozenset({404})) -> Case:
    return Case(b_gets, None, json)


NOT_YOURS = frozenset({404})
STAFF_ONLY = frozenset({403, 404})

CASES: dict[tuple[str, str], Case] = {
    # bodies
    ("GET", "/api/v1/bodies/{body_id}"): read(),
    ("PATCH", "/api/v1/bodies/{body_id}"): write({"name": "Taken over"}),
    ("POST", "/api/v1/bodies/{body_id}/deactivate"): write({"status": "abolished", "reason": "taken over"}),
    ("GET", "/api/v1/bodies/{body_id}/api-keys"): read(),
    ("POST", "/api/v1/bodies/{body_id}/api-keys"): write({"name": "planted"}),
    ("DELETE", "/api/v1/bodies/{body_id}/api-keys/{key_id}"): write(),
    ("GET", "/api/v1/bodies/{body_id}/dashboard"): read(),
    # reports are published to every body: B reads them (not a body's object); importing is staff work
    ("GET", "/api/v1/reports/{report_id}"): Case(frozenset({200}), 200, note="reports are shared"),
    ("POST", "/api/v1/reports/{report_id}/recommendations/import"): write([], STAFF_ONLY),
    # recommendations
    ("GET", "/api/v1/recommendations/groups/{group_id}"): read(),
    ("GET", "/api/v1/recommendations/{recommendation_id}"): read(),
    ("POST", "/api/v1/recommendations/{recommendation_id}/transitions"): write({"action": "submit"}),
    ("GET", "/api/v1/recommendations/{recommendation_id}/history"): read(),
    ("POST", "/api/v1/recommendations/{recommendation_id}/progress"): write({"narrative": "planted"}),
    ("GET", "/api/v1/recommendations/{recommendation_id}/progress"): read(),
    ("GET", "/api/v1/recommendations/{recommendation_id}/evidence/{evidence_id}"): read(),
    ("POST", "/api/v1/recommendations/{recommendation_id}/extension-requests"): write(
        {"proposed_due_date": (date.today() + timedelta(days=400)).isoformat(), "reason": "planted"}),
    ("GET", "/api/v1/recommendations/{recommendation_id}/extension-requests"): read(),
    ("POST", "/api/v1/recommendations/{recommendation_id}/extension-requests/{request_id}/decision"): write(
        {"granted": True, "reason": "planted"}, STAFF_ONLY),
    # notifications: another inbox's notice is 404; the delivery log is staff only
    ("POST", "/api/v1/notifications/{notification_id}/read"): write(),
    ("GET", "/api/v1/notifications/deliveries/{delivery_id}"): Case(STAFF_ONLY),
    ("POST", "/api/v1/notifications/deliveries/{delivery_id}/retry"): write(None, STAFF_ONLY),
}


def routes_with_ids() -> set[tuple[str, str]]:
    """(method, path) of every gateway route with a path parameter."""
    app = create_app(GatewaySettings(), PlatformSettings(profile="test"))
    return {(method, path) for path, methods, _ in api_routes(app) if "{" in path for method in methods}


ROUTES = sorted(routes_with_ids())


def test_every_route_with_an_id_has_a_case() -> None:
    missing = sorted(set(ROUTES) - set(CASES))
    assert not missing, f"routes with an id and no authorisation case (add them to CASES): {missing}"
    stale = sorted(set(CASES) - set(ROUTES))
    assert not stale, f"cases for routes that do not exist (remove or rename them): {stale}"


def _path(template: str, ids: dict[str, str]) -> str:
    return template.format(**ids)


def _without_instance(response: httpx.Response) -> str:
    try:
        doc = response.json()
    except ValueError:
        return response.text
    if isinstance(doc, dict):
        doc.pop("instance", None)  # the path the client itself asked for
    return json.dumps(doc)


@pytest.mark.parametrize(("method", "template"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_body_b_never_reaches_body_a_objects(method: str, template: str, world: World,
                                                   gateway: httpx.AsyncClient) -> None:
    case = CASES.get((method, template))
    assert case is not None, f"no authorisation case for {method} {template}"
    path = _path(template, world.ids)
    for who, headers in world.intruders.items():
        response = await gateway.request(method, path, headers=headers,
                                         **({"json": case.json} if case.json is not None else {}))
        assert response.status_code in case.b_gets, (who, method, path, response.status_code, response.text[:300])
        if response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
            text = _without_instance(response)
            leaked = [s for s in world.secrets if s in text]
            assert not leaked, (who, method, path, leaked, text[:300])
    if case.owner is not None:
        owned = await gateway.request(method, path, headers=world.owner)
        assert owned.status_code == case.owner, (method, path, owned.status_code, owned.text[:300])


async def test_b_cannot_find_a_in_lists(world: World, gateway: httpx.AsyncClient) -> None:
    for who, headers in world.intruders.items():
        for path, params in (("/api/v1/recommendations", {"limit": 500}),
                             ("/api/v1/recommendations", {"body_id": BODY_A}),
                             ("/api/v1/recommendations/summary", {"body_id": BODY_A}),
                             ("/api/v1/bodies", {"limit": 500})):
            response = await gateway.get(path, params=params, headers=headers)
            assert response.status_code == 200, (who, path, response.text[:300])
            leaked = [s for s in world.secrets if s in response.text]
            assert not leaked, (who, path, params, leaked)
