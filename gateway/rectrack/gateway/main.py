"""The gateway app: `uvicorn --factory rectrack.gateway.main:create_app`.

To add a service's routes, append its router to ROUTERS (and its tag to OPENAPI_TAGS); its client is
`app.state.clients["<service>"]` (a clients.base.ServiceClient), reachable through
`clients.base.service_dependency("<service>")`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI

from rectrack.common.auth import InternalSigner
from rectrack.common.errors import install_problem_handlers
from rectrack.common.logs import RequestIdMiddleware, configure_logging
from rectrack.common.settings import PlatformSettings, platform_settings
from rectrack.gateway.auth import Authenticator
from rectrack.gateway.clients.base import ServiceClient
from rectrack.gateway.config import GatewaySettings
from rectrack.gateway.limits import RequestSizeLimitMiddleware
from rectrack.gateway.openapi import install_openapi
from rectrack.gateway.ratelimit import build_rate_limiter, enforce_rate_limit
from rectrack.gateway.routes import bodies, health, recommendations, views
from rectrack.gateway.routes import notifications as notifications_routes

ROUTERS: list[APIRouter] = [
    health.router,
    bodies.router,
    views.router,
    recommendations.router,
    notifications_routes.router,
]

OPENAPI_TAGS: list[dict[str, str]] = [
    {"name": "bodies", "description": "Inspected bodies: police forces, fire and rescue services, national bodies; "
                                      "their contacts, webhook settings and API keys."},
    {"name": "staff", "description": "Inspectorate staff operations (administrators manage bodies)."},
    {"name": "recommendations", "description": "Reports and their recommendations, tracked per body: lifecycle, "
                                               "progress and evidence, extensions, history, queries and export."},
    {"name": "health", "description": "Liveness and readiness."},
]

DESCRIPTION = """The one public API of rectrack. Authenticate with `Authorization: Bearer <token>`
(`rectrack token issue --role admin`) or, for a body's systems, `X-API-Key: rtk_...`.
Errors are RFC 9457 problem+json with a stable `type`."""


def create_app(settings: GatewaySettings | None = None, platform: PlatformSettings | None = None) -> FastAPI:
    """The gateway: authentication, authorisation and routing to the services; no database."""
    settings = settings or GatewaySettings()
    platform = platform or platform_settings()
    if platform.profile != "test":
        configure_logging("gateway", level=platform.log_level, json=platform.log_json)
    signer = InternalSigner(platform.internal_secret)
    clients = {name: ServiceClient(name, url, signer, settings.downstream_timeout)
               for name, url in settings.service_urls().items()}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            for client in clients.values():
                await client.aclose()

    # The rate limit is an app-wide dependency: it runs before every route's own (see ratelimit.py).
    app = FastAPI(title="rectrack", description=DESCRIPTION, version="1.0.0", lifespan=lifespan,
                  openapi_tags=OPENAPI_TAGS, docs_url="/docs", dependencies=[Depends(enforce_rate_limit)])
    app.state.settings = settings
    app.state.clients = clients
    app.state.authenticator = Authenticator(platform, settings)
    app.state.rate_limiter = build_rate_limiter(settings)
    install_openapi(app)
    install_problem_handlers(app)
    app.add_middleware(RequestSizeLimitMiddleware, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestIdMiddleware)
    for router in ROUTERS:
        app.include_router(router)
    return app
