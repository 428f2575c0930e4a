"""HTTP routers of the recommendations service, one module per concern."""

from __future__ import annotations

from fastapi import APIRouter

from rectrack.recommendations.api import extensions, imports, progress, queries, recommendations, reports


def routers() -> list[APIRouter]:
    """Every router, in matching order (fixed paths such as /recommendations/summary before /{id})."""
    return [reports.router, imports.router, queries.router, recommendations.router, progress.router,
            extensions.router]
