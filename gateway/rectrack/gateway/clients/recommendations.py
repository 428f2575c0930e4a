"""The recommendations service, as the gateway calls it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from rectrack.common.auth import Principal
from rectrack.gateway.clients.base import ServiceClient, get_service_client

SERVICE_NAME = "recommendations"


class RecommendationsClient:
    """Typed calls to the recommendations service; thin routes use `.service.forward(...)`."""

    def __init__(self, service: ServiceClient) -> None:
        self.service = service

    async def get_recommendation(self, principal: Principal, recommendation_id: str) -> dict[str, Any]:
        """One body's recommendation as the principal may see it (404 problem otherwise)."""
        return await self.service.request(  # type: ignore[no-any-return]
            "GET", f"/recommendations/{recommendation_id}", principal=principal)

    async def summary(self, principal: Principal, params: Any = None) -> dict[str, Any]:
        """The roll-up counts the principal may see."""
        return await self.service.request(  # type: ignore[no-any-return]
            "GET", "/recommendations/summary", principal=principal, params=params)


async def get_recommendations_client(request: Request) -> RecommendationsClient:
    """The app's recommendations client."""
    return RecommendationsClient(get_service_client(request, SERVICE_NAME))


Recommendations = Annotated[RecommendationsClient, Depends(get_recommendations_client)]
