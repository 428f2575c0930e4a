"""/api/v1/notifications: the caller's in-app inbox, and the delivery log for staff.

- Everyone reads their own inbox: a body's users and systems share their body's inbox, each staff member has
  their own. `unread=true` filters, `limit`/`offset` page, newest first. Marking another inbox's notice read is
  404, as if it did not exist.
- The delivery log (every e-mail, webhook and inbox delivery with its status, attempts and last error) is for
  staff only: a body gets 403. Inspectors and administrators may re-queue a failed delivery.
The notifications service enforces the same again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from rectrack.common.errors import Problem
from rectrack.gateway.auth import Caller, require_staff
from rectrack.gateway.clients.notifications import Notifications

router = APIRouter(prefix="/api/v1/notifications", tags=["notifications"])

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,64}$")]


@router.get("/deliveries", summary="The delivery log (staff)",
            description="Filters: `body_id`, `channel` (email, webhook, inbox), `status` (pending, sending, "
                        "delivered, failed), `event_id`; `limit` (1-500) and `offset`. Newest first.")
async def list_deliveries(request: Request, principal: Caller, notifications: Notifications) -> Response:
    require_staff(principal)
    return await notifications.service.forward(request, principal, "/notifications/deliveries")


@router.get("/deliveries/{delivery_id}", summary="One delivery (staff)")
async def get_delivery(delivery_id: Id, request: Request, principal: Caller,
                       notifications: Notifications) -> Response:
    require_staff(principal)
    return await notifications.service.forward(request, principal, f"/notifications/deliveries/{delivery_id}")


@router.post("/deliveries/{delivery_id}/retry", summary="Re-queue a failed delivery (inspector, admin)",
             tags=["staff"], description="Only a `failed` delivery can be retried (409 otherwise); it gets a fresh "
                                         "budget of attempts.")
async def retry_delivery(delivery_id: Id, request: Request, principal: Caller,
                         notifications: Notifications) -> Response:
    require_staff(principal)
    if not principal.can_act_as_staff:
        raise Problem(403, "forbidden", "Forbidden", "only inspectors and administrators retry deliveries")
    return await notifications.service.forward(request, principal,
                                               f"/notifications/deliveries/{delivery_id}/retry")


@router.get("", summary="My inbox, newest first",
            description="`unread=true` for unread notices only; `limit` (1-500, default 50) and `offset`. "
                        "The answer's `unread` counts the whole inbox's unread notices.")
async def list_notifications(request: Request, principal: Caller, notifications: Notifications) -> Response:
    return await notifications.service.forward(request, principal, "/notifications")


@router.post("/read-all", summary="Mark my whole inbox read")
async def read_all(request: Request, principal: Caller, notifications: Notifications) -> Response:
    return await notifications.service.forward(request, principal, "/notifications/read-all")


@router.post("/{notification_id}/read", summary="Mark one notice read")
async def read_one(notification_id: Id, request: Request, principal: Caller,
                   notifications: Notifications) -> Response:
    return await notifications.service.forward(request, principal, f"/notifications/{notification_id}/read")
