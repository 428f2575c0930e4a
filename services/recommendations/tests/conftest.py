"""Fixtures for the recommendations service tests (helpers live in recommendations_testkit)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from recommendations_testkit import DatabaseTemplates, Service, fresh_database

from rectrack.common.auth import InternalSigner
from rectrack.common.settings import platform_settings
from rectrack.common.testing import discard_database
from rectrack.recommendations.config import RecommendationsSettings
from rectrack.recommendations.main import create_app


@pytest.fixture(scope="session")
def database_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseTemplates]:
    templates = DatabaseTemplates(tmp_path_factory.mktemp("recommendations-templates"))
    yield templates
    templates.cleanup()


@pytest.fixture
async def service(database_backend: str, database_templates: DatabaseTemplates, nats_server: Any, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Service]:
    """The service on a fresh database of the backend under test, its lifespan running (NATS, relay, consumer)."""
    monkeypatch.setenv("RECTRACK_NATS_URL", nats_server.url)
    monkeypatch.setenv("RECTRACK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RECTRACK_RELAY_SWEEP_SECONDS", "0.5")
    platform_settings.cache_clear()
    url = await fresh_database(database_backend, database_templates, tmp_path)
    settings = RecommendationsSettings(database_url=url, evidence_dir=tmp_path / "evidence",
                                       evidence_max_bytes=256 * 1024)
    app = create_app(settings)
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            svc = Service(app=app, client=client, signer=InternalSigner(platform_settings().internal_secret),
                          settings=settings, url=url)
            await svc.seed_bodies()
            yield svc
    finally:
        await discard_database(database_backend, url)
