"""Fixtures of the gateway tests: the bodies service for real (uvicorn, own thread), the gateway in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from gateway_testkit import ThreadedServer, gateway_settings

from rectrack.bodies.config import BodiesSettings
from rectrack.bodies.demo import load_demo
from rectrack.bodies.main import MIGRATIONS
from rectrack.bodies.main import create_app as create_bodies_app
from rectrack.bodies.models import OUTBOX
from rectrack.common.db import Database
from rectrack.common.events.outbox import Outbox
from rectrack.common.settings import PlatformSettings
from rectrack.common.testing import NatsServer, migrated_database
from rectrack.gateway.main import create_app


@pytest.fixture(scope="module")
def platform(nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory) -> PlatformSettings:
    return PlatformSettings(profile="test", nats_url=nats_server.url, data_dir=tmp_path_factory.mktemp("gw-data"))


@pytest.fixture(scope="module")
def bodies_server(platform: PlatformSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    """The bodies service on SQLite with the demo bodies loaded, serving HTTP on a free port."""
    workdir: Path = tmp_path_factory.mktemp("gw-bodies")

    async def prepare() -> str:
        url = await migrated_database("sqlite", MIGRATIONS, workdir)
        db = Database(url)
        try:
            async with db.transaction() as session:
                await load_demo(session, outbox=Outbox(OUTBOX, source="bodies"))
        finally:
            await db.dispose()
        return url

    url = asyncio.run(prepare())
    server = ThreadedServer(create_bodies_app(BodiesSettings(database_url=url), platform)).start()
    yield server
    server.stop()


@pytest.fixture
async def gateway(bodies_server: ThreadedServer, platform: PlatformSettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(gateway_settings(bodies_server.url, max_request_bytes=64 * 1024), platform)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client:
        yield client
