"""Composed views through the gateway against the real services: a body's dashboard and the staff overview,
whole, scoped, and partial (within the view timeout) when a service is down or slow."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from gateway_testkit import BODY_A, BODY_B, Services, ThreadedServer, bearer, issue_to, ok, start_services, wait_for

from rectrack.common.testing import free_port
from rectrack.gateway.main import create_app

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        running = start_services(tmp_path_factory.mktemp("views"), monkeypatch)
        try:
            yield running
        finally:
            running.stop()


@asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client


@pytest.fixture
async def gateway(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(create_app(services.gateway_settings(), services.platform)) as client:
        yield client


async def _has_notices(client: httpx.AsyncClient, headers: dict[str, str]) -> bool:
    response = await client.get(f"/api/v1/bodies/{BODY_A}/dashboard", headers=headers)
    return response.status_code == 200 and bool((response.json()["notifications"] or {}).get("total"))


@pytest.fixture(scope="module")
def data(services: Services) -> dict[str, Any]:
    """Body A: one overdue recommendation, one awaiting review; its notice delivered."""
    platform = services.platform

    async def build() -> dict[str, Any]:
        async with _client(create_app(services.gateway_settings(), platform)) as client:
            staff, owner = bearer(platform, "inspector"), bearer(platform, "body", BODY_A)
            marker = uuid.uuid4().hex[:8]
            report = ok(await client.post("/api/v1/reports", json={"title": f"Views {marker}", "kind": "peel",
                                                                    "level": "local"}, headers=staff), 201)
            [overdue] = await issue_to(client, staff, [BODY_A], report_id=report["id"],
                                       due=date.today() - timedelta(days=40), reference=f"OD-{marker}",
                                       title="Overdue one")
            [review] = await issue_to(client, staff, [BODY_A], report_id=report["id"],
                                      due=date.today() + timedelta(days=60), reference=f"RV-{marker}",
                                      title="Awaiting review one")
            rid = review["id"]
            ok(await client.post(f"/api/v1/recommendations/{rid}/transitions", json={"action": "start"},
                                 headers=owner))
            ok(await client.post(f"/api/v1/recommendations/{rid}/progress", json={"narrative": "done it"},
                                 headers=owner), 201)
            ok(await client.post(f"/api/v1/recommendations/{rid}/transitions", json={"action": "submit"},
                                 headers=owner))

            for who, headers in (("the delivery log", staff), ("body A's inbox", owner)):
                await wait_for(lambda h=headers: _has_notices(client, h), f"a notice of body A in {who}")
            return {"overdue": overdue, "review": review}

    return asyncio.run(build())


async def test_staff_sees_a_whole_dashboard(gateway: httpx.AsyncClient, services: Services,
                                            data: dict[str, Any]) -> None:
    response = await gateway.get(f"/api/v1/bodies/{BODY_A}/dashboard", headers=bearer(services.platform, "viewer"))
    doc = ok(response)
    assert doc["partial"] is False and doc["missing"] == []
    assert doc["body"]["id"] == BODY_A and doc["body"]["name"] == "West Midlands Police"
    counts = doc["counts"]
    assert counts["by_state"]["issued"] >= 1 and counts["by_state"]["awaiting_review"] >= 1
    assert counts["overdue"] >= 1 and set(counts["by_escalation_level"]) >= {"none", "overdue"}
    overdue_ids = {r["id"] for r in doc["overdue"]["items"]}
    assert data["overdue"]["id"] in overdue_ids and data["review"]["id"] not in overdue_ids
    assert all(r["body_id"] == BODY_A for r in doc["overdue"]["items"])
    # Staff see the delivery log of this body.
    assert doc["notifications"]["total"] >= 1
    assert {d["body_id"] for d in doc["notifications"]["items"]} == {BODY_A}


async def test_a_body_sees_its_own_dashboard_only(gateway: httpx.AsyncClient, services: Services,
                                                  data: dict[str, Any]) -> None:
    owner = bearer(services.platform, "body", BODY_A)
    doc = ok(await gateway.get(f"/api/v1/bodies/{BODY_A}/dashboard", headers=owner))
    assert doc["partial"] is False and doc["body"]["id"] == BODY_A
    # Its own inbox: the notices of its recommendations.
    assert doc["notifications"]["total"] >= 1 and "unread" in doc["notifications"]
    assert {n["body_id"] for n in doc["notifications"]["items"]} <= {BODY_A, None}
    other = await gateway.get(f"/api/v1/bodies/{BODY_B}/dashboard", headers=owner)
    assert other.status_code == 404 and other.headers["content-type"] == PROBLEM
    assert "West Mercia" not in other.text
    missing = await gateway.get("/api/v1/bodies/no-such-force/dashboard", headers=bearer(services.platform, "admin"))
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


async def test_staff_overview(gateway: httpx.AsyncClient, services: Services, data: dict[str, Any]) -> None:
    doc = ok(await gateway.get("/api/v1/overview", headers=bearer(services.platform, "inspector")))
    assert doc["partial"] is False and doc["missing"] == []
    assert doc["national"]["total"] >= 2 and doc["national"]["by_state"]["awaiting_review"] >= 1
    regions = {r["region"]: r for r in doc["regional"]}
    assert regions["West Midlands"]["total"] >= 2 and regions["West Midlands"]["overdue"] >= 1
    assert data["overdue"]["id"] in {r["id"] for r in doc["most_overdue"]["items"]}
    due_dates = [r["due_date"] for r in doc["most_overdue"]["items"]]
    assert due_dates == sorted(due_dates)
    assert data["review"]["id"] in {r["id"] for r in doc["awaiting_review"]["items"]}
    assert {r["state"] for r in doc["awaiting_review"]["items"]} == {"awaiting_review"}

    anonymous: dict[str, str] = {}
    for headers in (bearer(services.platform, "body", BODY_A), anonymous):
        refused = await gateway.get("/api/v1/overview", headers=headers)
        assert refused.status_code in (401, 403) and refused.headers["content-type"] == PROBLEM
    assert (await gateway.get("/api/v1/overview", headers=bearer(services.platform, "body", BODY_A))
            ).status_code == 403


async def test_notifications_down_gives_a_partial_dashboard(services: Services, data: dict[str, Any]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    app = create_app(services.gateway_settings(notifications_url=dead, view_timeout_seconds=2.0), services.platform)
    async with _client(app) as gateway:
        started = time.monotonic()
        response = await gateway.get(f"/api/v1/bodies/{BODY_A}/dashboard",
                                     headers=bearer(services.platform, "inspector"))
        elapsed = time.monotonic() - started
        doc = ok(response)
        assert elapsed < 2.0 + 1.0, elapsed
        assert doc["partial"] is True and doc["notifications"] is None
        assert doc["missing"] == [{"part": "notifications", "service": "notifications", "reason": "unavailable",
                                   "status": 503}]
        assert doc["body"]["id"] == BODY_A and doc["counts"]["total"] >= 2 and doc["overdue"]["total"] >= 1


@pytest.fixture(scope="module")
def slow_server() -> Iterator[ThreadedServer]:
    """A service that answers everything after 3 s."""
    slow = FastAPI()

    @slow.api_route("/{path:path}", methods=["GET"])
    async def late(path: str) -> dict[str, Any]:
        await asyncio.sleep(3)
        return {"items": [], "total": 0}

    server = ThreadedServer(slow)
    server.server.config.timeout_graceful_shutdown = 1  # don't wait out the requests the gateway gave up on
    server.start()
    yield server
    server.stop()


async def test_a_slow_service_is_cut_off_at_the_view_timeout(services: Services, slow_server: ThreadedServer,
                                                             data: dict[str, Any]) -> None:
    app = create_app(services.gateway_settings(recommendations_url=slow_server.url, view_timeout_seconds=0.5),
                     services.platform)
    async with _client(app) as gateway:
        staff = bearer(services.platform, "inspector")
        started = time.monotonic()
        dashboard, overview = await asyncio.gather(gateway.get(f"/api/v1/bodies/{BODY_A}/dashboard", headers=staff),
                                                   gateway.get("/api/v1/overview", headers=staff))
        elapsed = time.monotonic() - started
        assert elapsed < 2.5, elapsed  # far below the slow service's 3 s: the parts were cut off at 0.5 s
        doc = ok(dashboard)
        assert doc["partial"] is True and doc["body"]["id"] == BODY_A and doc["notifications"]["total"] >= 1
        assert doc["counts"] is None and doc["overdue"] is None
        assert sorted(doc["missing"], key=lambda m: m["part"]) == [
            {"part": "counts", "service": "recommendations", "reason": "timeout", "status": None},
            {"part": "overdue", "service": "recommendations", "reason": "timeout", "status": None}]
        view = ok(overview)
        assert view["partial"] is True
        assert view["national"] is None and view["regional"] is None and view["most_overdue"] is None
        assert {m["part"] for m in view["missing"]} == {"national", "regional", "most_overdue", "awaiting_review"}
        assert {m["reason"] for m in view["missing"]} == {"timeout"}


async def test_bodies_down_still_answers_what_is_known(services: Services, data: dict[str, Any]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    app = create_app(services.gateway_settings(bodies_url=dead), services.platform)
    async with _client(app) as gateway:
        doc = ok(await gateway.get(f"/api/v1/bodies/{BODY_A}/dashboard",
                                   headers=bearer(services.platform, "body", BODY_A)))
        assert doc["partial"] is True and doc["body"] is None and doc["counts"]["total"] >= 2
        assert doc["missing"] == [{"part": "body", "service": "bodies", "reason": "unavailable", "status": 503}]
