"""Helpers of the gateway tests: a real service in a uvicorn server on a free port, in a background thread;
`start_services`, the whole platform that way (bodies, recommendations and notifications each in a uvicorn thread
on a free port, on fresh SQLite databases, with a NATS server of their own: their durable consumers have fixed
names); tokens, polling and the API routes of an app."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from rectrack.common.auth import issue_user_token
from rectrack.common.settings import PlatformSettings, platform_settings
from rectrack.common.testing import NatsServer, ThreadedServer, free_port, migrated_database
from rectrack.gateway.config import GatewaySettings

BODY_A = "west-midlands-police"
BODY_B = "west-mercia-police"
PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"


def gateway_settings(bodies_url: str, **extra: object) -> GatewaySettings:
    """Settings pointing at the given bodies service; the other services are nowhere."""
    dead = f"http://127.0.0.1:{free_port()}"
    return GatewaySettings(bodies_url=bodies_url, recommendations_url=dead, notifications_url=dead,
                           **extra)  # type: ignore[arg-type]


# --- the platform in threads ------------------------------------------------------------------------------------

@dataclass
class Services:
    """The three services running, and how to reach them."""

    platform: PlatformSettings
    nats: NatsServer
    servers: dict[str, ThreadedServer] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.servers[name].url

    def gateway_settings(self, **extra: Any) -> GatewaySettings:
        """Gateway settings pointing at these services; no rate limit unless asked for."""
        values: dict[str, Any] = {f"{name}_url": server.url for name, server in self.servers.items()}
        values.setdefault("rate_limit_per_second", None)
        values.update(extra)
        return GatewaySettings(**values)

    def stop(self) -> None:
        # In parallel: a service whose NATS drain hangs (see the report) costs its 15 s join once, not per service.
        threads = [threading.Thread(target=server.stop) for server in self.servers.values()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.nats.cleanup()


def start_services(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Services:
    """Bodies (with the demo bodies), recommendations and notifications on free ports; NATS of their own."""
    from rectrack.bodies.config import BodiesSettings
    from rectrack.bodies.demo import load_demo
    from rectrack.bodies.main import MIGRATIONS as BODIES_MIGRATIONS
    from rectrack.bodies.main import create_app as create_bodies
    from rectrack.bodies.models import OUTBOX
    from rectrack.common.db import Database
    from rectrack.common.events.outbox import Outbox
    from rectrack.notifications.config import NotificationsSettings
    from rectrack.notifications.main import MIGRATIONS as NOTIFICATIONS_MIGRATIONS
    from rectrack.notifications.main import create_app as create_notifications
    from rectrack.recommendations.cli import MIGRATIONS as RECOMMENDATIONS_MIGRATIONS
    from rectrack.recommendations.config import RecommendationsSettings
    from rectrack.recommendations.main import create_app as create_recommendations

    nats = NatsServer(store_dir=str(workdir / "nats")).start()
    for name, value in {"RECTRACK_NATS_URL": nats.url, "RECTRACK_DATA_DIR": str(workdir), "RECTRACK_PROFILE": "test",
                        "RECTRACK_RELAY_SWEEP_SECONDS": "0.5"}.items():
        monkeypatch.setenv(name, value)
    platform_settings.cache_clear()
    platform = PlatformSettings()

    async def prepare() -> dict[str, str]:
        urls = {}  # one after the other: alembic's context is process-global
        for name, migrations in (("bodies", BODIES_MIGRATIONS), ("recommendations", RECOMMENDATIONS_MIGRATIONS),
                                 ("notifications", NOTIFICATIONS_MIGRATIONS)):
            urls[name] = await migrated_database("sqlite", migrations, workdir)
        db = Database(urls["bodies"])
        try:
            async with db.transaction() as session:
                await load_demo(session, outbox=Outbox(OUTBOX, source="bodies"))
        finally:
            await db.dispose()
        return urls

    urls = asyncio.run(prepare())
    services = Services(platform=platform, nats=nats)
    try:
        services.servers["bodies"] = ThreadedServer(
            create_bodies(BodiesSettings(database_url=urls["bodies"]), platform)).start()
        services.servers["recommendations"] = ThreadedServer(
            create_recommendations(RecommendationsSettings(database_url=urls["recommendations"]))).start()
        services.servers["notifications"] = ThreadedServer(create_notifications(
            NotificationsSettings(database_url=urls["notifications"], worker_sweep_seconds=0.5), platform)).start()
    except BaseException:
        services.stop()
        raise
    return services


def bearer(platform: PlatformSettings, role: str, body_id: str | None = None, subject: str | None = None
           ) -> dict[str, str]:
    token = issue_user_token(platform, role=role, subject=subject or f"t-{role}-{body_id or 'staff'}",
                             name=f"Test {role}", body_id=body_id)
    return {"Authorization": f"Bearer {token}"}


async def wait_for(probe: Callable[[], Any], what: str, seconds: float = 20.0) -> Any:
    """Poll an async probe until it returns something truthy."""
    deadline = time.monotonic() + seconds
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (response.request.method, str(response.request.url),
                                            response.status_code, response.text[:500])
    return response.json() if response.content else None


async def issue_to(client: httpx.AsyncClient, staff: dict[str, str], body_ids: list[str], *, report_id: str,
                   due: date, reference: str, title: str) -> list[dict[str, Any]]:
    """Issue one recommendation to the bodies (retrying while recommendations learns the demo bodies)."""
    doc = {"report_id": report_id, "reference": reference, "title": title, "text": f"text of {title}",
           "themes": ["domestic-abuse"], "due_date": due.isoformat(), "recipient_body_ids": body_ids, "issue": True}

    async def attempt() -> Any:
        response = await client.post("/api/v1/recommendations", json=doc, headers=staff)
        if response.status_code == 422 and "recipient" in response.text:
            return None  # the bodies read model is still filling from body.* events
        return ok(response, 201)["items"]

    return await wait_for(attempt, "the recommendations service to know the demo bodies")  # type: ignore[no-any-return]




def api_routes(app: Any) -> list[tuple[str, set[str], APIRoute]]:
    """(path, methods, route) of every API route of the app, through included routers."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI >= 0.165 includes routers lazily
    except ImportError:  # pragma: no cover - older FastAPI flattens them into app.routes
        return [(r.path, set(r.methods or ()), r) for r in app.routes if isinstance(r, APIRoute)]
    return [(str(c.path), set(c.methods or ()), c.original_route) for c in iter_route_contexts(app.routes)
            if isinstance(c.original_route, APIRoute)]
