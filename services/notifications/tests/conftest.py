"""Fixtures of the notifications tests: a NATS server of their own, a real SMTP server, the app in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from notifications_testkit import (
    CollectingSmtp,
    NotificationsService,
    Publisher,
    settings_for,
)

from rectrack.common.auth import InternalSigner
from rectrack.common.settings import PlatformSettings
from rectrack.common.testing import NatsServer, discard_database, migrated_database
from rectrack.notifications.main import MIGRATIONS, create_app


@pytest.fixture
def own_nats() -> Iterator[NatsServer]:
    """A NATS server for one test: the durable consumers' names are fixed, so tests must not share streams."""
    server = NatsServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def smtp() -> Iterator[CollectingSmtp]:
    server = CollectingSmtp().start()
    yield server
    server.stop()


@pytest.fixture
async def service(database_backend: str, own_nats: NatsServer, smtp: CollectingSmtp, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[NotificationsService]:
    """The service on a fresh database of the backend under test, consuming from its own NATS, mailing to smtp."""
    monkeypatch.setenv("RECTRACK_NATS_URL", own_nats.url)
    monkeypatch.setenv("RECTRACK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RECTRACK_RELAY_SWEEP_SECONDS", "0.5")
    url = await migrated_database(database_backend, MIGRATIONS, tmp_path)
    platform = PlatformSettings()
    app = create_app(settings_for(url, smtp.port), platform)
    nc, bus = await Publisher.connect(own_nats.url)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://notifications") as client:
            yield NotificationsService(client=client, runtime=app.state.runtime, url=url,
                                       signer=InternalSigner(platform.internal_secret), bus=bus)
    finally:
        await nc.close()
        await discard_database(database_backend, url)
