"""/api/v1/notifications: the caller's in-app inbox, and the delivery log for staff.

- Everyone reads their own inbox: a body's users and systems share their body's inbox, each staff member has
  their own. `unread=true` filters, `limit`/`offset` page, newest first. Marking another inbox's notice read is
  404, as if it did not exist.
- The delivery log (every e-mail, webhook and inbox delivery with its status, attempts and last error) is for
  staff only: a body gets 403. Inspectors and administrators may re-queue a failed delivery.
The notifications service enforces the same again.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict

from rectrack.common.errors import Problem
from rectrack.gateway.auth import Caller, require_staff
from rectrack.gateway.clients.notifications import Notifications
from rectrack.gateway.openapi import PAGING, PROBLEM_RESPONSES, READ_RESPONSES, extra, query

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"], responses=READ_RESPONSES)
# Who uses a route, besides its area tag: bodies' systems, or staff only.
BODIES: list[str | Enum] = ["bodies"]
STAFF: list[str | Enum] = ["staff"]

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,64}$")]
Channel = Literal["email", "webhook", "inbox"]
DeliveryStatus = Literal["pending", "sending", "delivered", "failed"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")  # answers may gain fields


class Notification(_Out):
    """One notice in an in-app inbox."""

    id: str
    kind: str
    event_id: str
    event_type: str
    body_id: str | None
    recommendation_id: str | None
    subject: str
    text: str
    data: dict[str, Any]
    created_at: datetime
    read: bool
    read_at: datetime | None
    version: int


class NotificationPage(_Out):
    """A page of an inbox, newest first; `unread` counts the whole inbox's unread notices."""

    items: list[Notification]
    total: int
    limit: int
    offset: int
    unread: int


class ReadAll(_Out):
    """How many notices were marked read."""

    marked: int


class Delivery(_Out):
    """One line of the delivery log."""

    id: str
    event_id: str
    event_type: str
    kind: str
    channel: Channel
    recipient: str
    recipient_name: str | None
    audiences: list[str]
    body_id: str | None
    recommendation_id: str | None
    subject: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    version: int


class DeliveryPage(_Out):
    """A page of the delivery log, newest first."""

    items: list[Delivery]
    total: int
    limit: int
    offset: int


DELIVERY_FILTERS = extra([
    query("body_id", {"type": "string", "maxLength": 100, "pattern": r"^[a-z0-9]+(-[a-z0-9]+)*$"}),
    query("channel", {"type": "string", "enum": ["email", "webhook", "inbox"]}),
    query("status", {"type": "string", "enum": ["pending", "sending", "delivered", "failed"]}),
    query("event_id", {"type": "string", "maxLength": 64}), *PAGING])


@router.get("/deliveries", summary="The delivery log (staff)", tags=STAFF, response_model=DeliveryPage,
            description="Filters: `body_id`, `channel` (email, webhook, inbox), `status` (pending, sending, "
                        "delivered, failed), `event_id`; `limit` (1-500) and `offset`. Newest first.",
            openapi_extra=DELIVERY_FILTERS)
async def list_deliveries(request: Request, principal: Caller, notifications: Notifications) -> Response:
    require_staff(principal)
    return await notifications.service.forward(request, principal, "/notifications/deliveries")


@router.get("/deliveries/{delivery_id}", summary="One delivery (staff)", tags=STAFF, response_model=Delivery)
async def get_delivery(delivery_id: Id, request: Request, principal: Caller,
                       notifications: Notifications) -> Response:
    require_staff(principal)
    return await notifications.service.forward(request, principal, f"/notifications/deliveries/{delivery_id}")


@router.post("/deliveries/{delivery_id}/retry", summary="Re-queue a failed delivery (inspector, admin)",
             tags=STAFF, response_model=Delivery, responses=PROBLEM_RESPONSES,
             description="Only a `failed` delivery can be retried (409 otherwise); it gets a fresh budget of "
                         "attempts.")
async def retry_delivery(delivery_id: Id, request: Request, principal: Caller,
                         notifications: Notifications) -> Response:
    require_staff(principal)
    if not principal.can_act_as_staff:
        raise Problem(403, "forbidden", "Forbidden", "only inspectors and administrators retry deliveries")
    return await notifications.service.forward(request, principal,
                                               f"/notifications/deliveries/{delivery_id}/retry")


@router.get("", summary="My inbox, newest first", tags=BODIES, response_model=NotificationPage,
            description="`unread=true` for unread notices only; `limit` (1-500, default 50) and `offset`. "
                        "The answer's `unread` counts the whole inbox's unread notices.",
            openapi_extra=extra([query("unread", {"type": "boolean"}, "Only unread (true) or read (false) ones."),
                                 *PAGING]))
async def list_notifications(request: Request, principal: Caller, notifications: Notifications) -> Response:
    return await notifications.service.forward(request, principal, "/notifications")


@router.post("/read-all", summary="Mark my whole inbox read", tags=BODIES, response_model=ReadAll,
             responses=PROBLEM_RESPONSES)
async def read_all(request: Request, principal: Caller, notifications: Notifications) -> Response:
    return await notifications.service.forward(request, principal, "/notifications/read-all")


@router.post("/{notification_id}/read", summary="Mark one notice read", tags=BODIES, response_model=Notification,
             responses=PROBLEM_RESPONSES)
async def read_one(notification_id: Id, request: Request, principal: Caller,
                   notifications: Notifications) -> Response:
    return await notifications.service.forward(request, principal, f"/notifications/{notification_id}/read")
