"""Fixtures of the bodies service tests: a migrated database and the app driven in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from bodies_testkit import BodiesService

from rectrack.bodies.config import BodiesSettings
from rectrack.bodies.main import MIGRATIONS, create_app
from rectrack.common.auth import InternalSigner
from rectrack.common.settings import PlatformSettings
from rectrack.common.testing import NatsServer, discard_database, migrated_database


@pytest.fixture
async def bodies(database_backend: str, nats_server: NatsServer, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[BodiesService]:
    monkeypatch.setenv("RECTRACK_NATS_URL", nats_server.url)
    monkeypatch.setenv("RECTRACK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RECTRACK_RELAY_SWEEP_SECONDS", "0.5")
    url = await migrated_database(database_backend, MIGRATIONS, tmp_path)
    platform = PlatformSettings()
    app = create_app(BodiesSettings(database_url=url), platform)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bodies") as client:
            yield BodiesService(client=client, runtime=app.state.runtime, url=url,
                                signer=InternalSigner(platform.internal_secret), nats_url=nats_server.url)
    finally:
        await discard_database(database_backend, url)
