"""Fixtures every part's tests share: a real NATS server on free ports, and the database backends to run on."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from rectrack.common.settings import platform_settings
from rectrack.common.testing import NatsServer, postgres_admin_url

os.environ.setdefault("RECTRACK_PROFILE", "test")
os.environ.setdefault("RECTRACK_LOG_JSON", "false")

DATABASE_BACKENDS = ["sqlite"] + (["postgresql"] if postgres_admin_url() else [])


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer]:
    """One real nats-server with JetStream for the whole run, on a free port."""
    server = NatsServer().start()
    yield server
    server.cleanup()


@pytest.fixture(params=DATABASE_BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> str:
    """Each database test runs on SQLite, and again on PostgreSQL when RECTRACK_TEST_POSTGRES_URL is set."""
    return str(request.param)


@pytest.fixture(autouse=True)
def _fresh_platform_settings() -> Iterator[None]:
    platform_settings.cache_clear()
    yield
    platform_settings.cache_clear()
