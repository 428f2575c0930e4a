"""The notifications service, as the gateway calls it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from rectrack.common.auth import Principal
from rectrack.gateway.clients.base import ServiceClient, get_service_client

SERVICE_NAME = "notifications"


class NotificationsClient:
    """Typed calls to the notifications service; thin routes use `.service.forward(...)`."""

    def __init__(self, service: ServiceClient) -> None:
        self.service = service

    async def unread_count(self, principal: Principal) -> int:
        """How many unread notices the principal's inbox holds (for composed views)."""
        page: dict[str, Any] = await self.service.request("GET", "/notifications", principal=principal,
                                                          params={"limit": 1, "unread": "true"})
        return int(page["unread"])


async def get_notifications_client(request: Request) -> NotificationsClient:
    """The app's notifications client."""
    return NotificationsClient(get_service_client(request, SERVICE_NAME))


Notifications = Annotated[NotificationsClient, Depends(get_notifications_client)]
