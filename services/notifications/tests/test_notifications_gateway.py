"""The gateway in front of the notifications service (uvicorn in a thread): inboxes and the delivery log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from notifications_testkit import (
    CollectingSmtp,
    Publisher,
    ThreadedServer,
    body,
    contact,
    eventually,
    issued,
    settings_for,
    snapshot,
)

from rectrack.common.auth import issue_user_token
from rectrack.common.events import subjects
from rectrack.common.settings import PlatformSettings
from rectrack.common.testing import NatsServer, free_port, migrated_database
from rectrack.gateway.config import GatewaySettings
from rectrack.gateway.main import create_app as create_gateway
from rectrack.notifications.main import MIGRATIONS, create_app

PROBLEM = "application/problem+json"


@pytest.fixture
def platform(own_nats: NatsServer, tmp_path: Path) -> PlatformSettings:
    return PlatformSettings(profile="test", nats_url=own_nats.url, data_dir=tmp_path, relay_sweep_seconds=0.5)


@pytest.fixture
async def notifications_server(platform: PlatformSettings, smtp: CollectingSmtp, tmp_path: Path
                               ) -> AsyncIterator[ThreadedServer]:
    url = await migrated_database("sqlite", MIGRATIONS, tmp_path)
    server = ThreadedServer(create_app(settings_for(url, smtp.port), platform)).start()
    yield server
    server.stop()


@pytest.fixture
async def gateway(notifications_server: ThreadedServer, platform: PlatformSettings
                  ) -> AsyncIterator[httpx.AsyncClient]:
    dead = f"http://127.0.0.1:{free_port()}"
    app = create_gateway(GatewaySettings(bodies_url=dead, recommendations_url=dead,
                                         notifications_url=notifications_server.url), platform)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client


@pytest.fixture
def bus_url(own_nats: NatsServer) -> Iterator[str]:
    yield own_nats.url


def bearer(platform: PlatformSettings, role: str, body_id: str | None = None) -> dict[str, str]:
    token = issue_user_token(platform, role=role, subject=f"test-{role}", name=f"Test {role}", body_id=body_id)
    return {"Authorization": f"Bearer {token}"}


async def test_bodies_read_their_inbox_and_staff_the_delivery_log(gateway: httpx.AsyncClient,
                                                                   platform: PlatformSettings, bus_url: str) -> None:
    nc, bus = await Publisher.connect(bus_url)
    try:
        for body_id in ("cumbria-police", "durham-constabulary"):
            await bus.body(body(body_id, [contact("Liaison", f"liaison@{body_id}.example.org", "liaison")]))
        rec = snapshot("cumbria-police", reference="PEEL-2024-CUM-R4")
        await bus.recommendation(subjects.RECOMMENDATION_ISSUED, issued(rec))
    finally:
        await nc.close()
    cumbria, durham = bearer(platform, "body", "cumbria-police"), bearer(platform, "body", "durham-constabulary")

    async def inbox() -> list[dict[str, object]]:
        response = await gateway.get("/api/v1/notifications", params={"unread": "true"}, headers=cumbria)
        assert response.status_code == 200, response.text
        return response.json()["items"]  # type: ignore[no-any-return]
    [notice] = await eventually(inbox)
    assert notice["kind"] == "recommendation_issued" and "PEEL-2024-CUM-R4" in str(notice["subject"])

    assert (await gateway.get("/api/v1/notifications", headers=durham)).json()["total"] == 0
    stolen = await gateway.post(f"/api/v1/notifications/{notice['id']}/read", headers=durham)
    assert stolen.status_code == 404 and stolen.headers["content-type"] == PROBLEM
    read = await gateway.post(f"/api/v1/notifications/{notice['id']}/read", headers=cumbria)
    assert read.status_code == 200 and read.json()["read"] is True
    assert (await gateway.get("/api/v1/notifications", params={"unread": "true"}, headers=cumbria)).json()[
        "total"] == 0

    denied = await gateway.get("/api/v1/notifications/deliveries", headers=cumbria)
    assert denied.status_code == 403 and denied.headers["content-type"] == PROBLEM

    async def log() -> list[dict[str, object]]:
        response = await gateway.get("/api/v1/notifications/deliveries", params={"body_id": "cumbria-police"},
                                     headers=bearer(platform, "viewer"))
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        return items if {d["status"] for d in items} == {"delivered"} else []  # type: ignore[no-any-return]
    items = await eventually(log)
    assert sorted((d["channel"], d["recipient"], d["attempts"]) for d in items) == [
        ("email", "liaison@cumbria-police.example.org", 1), ("inbox", "body:cumbria-police", 1)]

    retry = await gateway.post(f"/api/v1/notifications/deliveries/{items[0]['id']}/retry",
                               headers=bearer(platform, "viewer"))
    assert retry.status_code == 403
    retry = await gateway.post(f"/api/v1/notifications/deliveries/{items[0]['id']}/retry",
                               headers=bearer(platform, "admin"))
    assert retry.status_code == 409 and retry.headers["content-type"] == PROBLEM
    assert (await gateway.get("/api/v1/notifications")).status_code == 401
