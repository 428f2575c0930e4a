"""Liveness and readiness of the gateway; readiness asks every downstream service's /healthz, concurrently."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from rectrack.gateway.clients.base import ServiceClient
from rectrack.gateway.openapi import HealthStatus, Readiness

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness", response_model=HealthStatus)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: every downstream service answers its /healthz", response_model=Readiness,
            responses={503: {"model": Readiness, "description": "A downstream service is not answering."}})
async def readyz(request: Request) -> JSONResponse:
    clients: dict[str, ServiceClient] = request.app.state.clients

    async def check(client: ServiceClient) -> str:
        try:
            await asyncio.wait_for(client.check_health(), timeout=2.0)
            return "ok"
        except Exception as exc:
            return f"unavailable: {getattr(exc, 'detail', None) or type(exc).__name__}"

    names = list(clients)
    results = dict(zip(names, await asyncio.gather(*(check(clients[n]) for n in names)), strict=True))
    ready = all(v == "ok" for v in results.values())
    return JSONResponse({"status": "ready" if ready else "not-ready", "checks": results},
                        status_code=200 if ready else 503)
