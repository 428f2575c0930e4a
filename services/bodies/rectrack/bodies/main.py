"""The bodies service app: `uvicorn --factory rectrack.bodies.main:create_app`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from rectrack.bodies.api import internal_router, router
from rectrack.bodies.config import SERVICE_NAME, BodiesSettings
from rectrack.bodies.models import IDEMPOTENCY_KEYS, INBOX, OUTBOX
from rectrack.common.app import ServiceRuntime, create_service_app
from rectrack.common.logs import configure_logging
from rectrack.common.settings import PlatformSettings, platform_settings

MIGRATIONS = str(Path(__file__).parent / "migrations")


def create_app(settings: BodiesSettings | None = None, platform: PlatformSettings | None = None) -> FastAPI:
    """The bodies service: bodies, contacts, webhook settings and API keys; publishes body.* events."""
    settings = settings or BodiesSettings()
    platform = platform or platform_settings()
    if platform.profile != "test":
        configure_logging(SERVICE_NAME, level=platform.log_level, json=platform.log_json)
    runtime = ServiceRuntime(name=SERVICE_NAME, platform=platform, database_url=settings.database(platform),
                             outbox_table=OUTBOX, inbox_table=INBOX, idempotency_table=IDEMPOTENCY_KEYS)
    app = create_service_app(runtime, title="rectrack bodies", routers=[router, internal_router],
                             description="Inspected bodies, their contacts, webhook settings and API keys.")
    app.state.settings = settings
    return app
