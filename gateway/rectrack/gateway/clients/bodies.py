"""The bodies service, as the gateway calls it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from rectrack.common.auth import Principal
from rectrack.common.errors import Problem
from rectrack.gateway.clients.base import ServiceClient, get_service_client

SERVICE_NAME = "bodies"
GATEWAY_PRINCIPAL = Principal(kind="service", subject="gateway", name="rectrack gateway")


class BodiesClient:
    """Typed calls to the bodies service; thin routes use `.service.forward(...)`."""

    def __init__(self, service: ServiceClient) -> None:
        self.service = service

    async def verify_api_key(self, key: str) -> dict[str, Any] | None:
        """{body_id, key_id, name} of a live key, or None when the service refuses it."""
        try:
            result = await self.service.request("POST", "/internal/api-keys/verify", principal=GATEWAY_PRINCIPAL,
                                                json={"key": key})
        except Problem as problem:
            if problem.status in (401, 422):
                return None
            raise
        return result  # type: ignore[no-any-return]

    async def get_body(self, principal: Principal, body_id: str) -> dict[str, Any]:
        """One body as the principal may see it."""
        return await self.service.request("GET", f"/bodies/{body_id}", principal=principal)  # type: ignore[no-any-return]


def get_bodies_client(request: Request) -> BodiesClient:
    """The app's bodies client."""
    return BodiesClient(get_service_client(request, SERVICE_NAME))


async def bodies_client(request: Request) -> BodiesClient:
    """The bodies client as a dependency (a coroutine, so FastAPI does not hop to a worker thread)."""
    return get_bodies_client(request)


Bodies = Annotated[BodiesClient, Depends(bodies_client)]
