"""The recommendations service app factory (uvicorn --factory rectrack.recommendations.main:create_app)."""

from __future__ import annotations

from fastapi import FastAPI

from rectrack.common.app import ServiceRuntime, create_service_app
from rectrack.common.clock import Clock, SystemClock
from rectrack.common.settings import platform_settings
from rectrack.recommendations.api import routers
from rectrack.recommendations.api.deps import ServiceContext
from rectrack.recommendations.config import SERVICE_NAME, RecommendationsSettings
from rectrack.recommendations.consumers import register_consumers
from rectrack.recommendations.models import IDEMPOTENCY_KEYS, INBOX, OUTBOX
from rectrack.recommendations.storage import EvidenceStorage, LocalFileStorage


def create_app(settings: RecommendationsSettings | None = None, *, clock: Clock | None = None,
               storage: EvidenceStorage | None = None) -> FastAPI:
    """Build the service: runtime (database, outbox relay, bodies consumer), evidence storage, routes."""
    settings = settings or RecommendationsSettings()
    platform = platform_settings()
    runtime = ServiceRuntime(name=SERVICE_NAME, platform=platform,
                             database_url=settings.database(platform),
                             outbox_table=OUTBOX, inbox_table=INBOX, idempotency_table=IDEMPOTENCY_KEYS)
    register_consumers(runtime)
    app = create_service_app(runtime, title="rectrack recommendations", routers=routers(),
                             description="Reports, per-body recommendation tracking, progress, evidence, extensions.")
    app.state.context = ServiceContext(
        settings=settings,
        storage=storage or LocalFileStorage(settings.resolved_evidence_dir(platform)),
        clock=clock or SystemClock(),
    )
    return app
