"""HTTP routes of the notifications service (internal: every request carries the gateway-signed principal).

- `GET /notifications`: the caller's own inbox (a body's users share `body:<body_id>`, staff read
  `staff:<subject>`); `POST /notifications/{id}/read`, `POST /notifications/read-all`. Another inbox's
  notice is 404.
- `GET /notifications/deliveries[/{id}]`: the delivery log, staff only (a body gets 403: the log names
  other bodies' contacts); `POST /notifications/deliveries/{id}/retry` re-queues a failed delivery
  (inspectors and administrators).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from rectrack.common.app import CurrentPrincipal, Runtime
from rectrack.common.auth import Principal
from rectrack.common.db import utcnow
from rectrack.common.errors import Problem
from rectrack.notifications import deliveries, inbox
from rectrack.notifications.models import Notification
from rectrack.notifications.schemas import (
    Channel,
    DeliveryOut,
    DeliveryPage,
    DeliveryStatus,
    NotificationOut,
    NotificationPage,
    ReadAll,
)

router = APIRouter(prefix="/notifications", tags=["notifications"])

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9]{1,64}$")]
BodyFilter = Annotated[str | None, Query(max_length=100, pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]


def notification_out(row: Notification) -> NotificationOut:
    """The API form of an inbox notice."""
    return NotificationOut(id=row.id, kind=row.kind, event_id=row.event_id, event_type=row.event_type,
                           body_id=row.body_id, recommendation_id=row.recommendation_id, subject=row.subject,
                           text=row.text, data=row.data or {}, created_at=row.created_at,
                           read=row.read_at is not None, read_at=row.read_at, version=row.version)


def require_staff(principal: Principal) -> None:
    """The delivery log is the inspectorate's."""
    if not principal.is_staff:
        raise Problem(403, "forbidden", "Forbidden", "the delivery log is for inspectorate staff")


@router.get("/deliveries", response_model=DeliveryPage, summary="The delivery log (staff)")
async def list_deliveries(runtime: Runtime, principal: CurrentPrincipal, body_id: BodyFilter = None,
                          channel: Channel | None = None, status: DeliveryStatus | None = None,
                          event_id: Annotated[str | None, Query(max_length=64)] = None,
                          limit: Limit = 50, offset: Offset = 0) -> DeliveryPage:
    require_staff(principal)
    async with runtime.db.read() as session:
        rows, total = await deliveries.list_deliveries(session, body_id=body_id, channel=channel, status=status,
                                                       event_id=event_id, limit=limit, offset=offset)
    return DeliveryPage(items=[DeliveryOut.model_validate(r) for r in rows], total=total, limit=limit,
                        offset=offset)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryOut, summary="One delivery (staff)")
async def get_delivery(delivery_id: Id, runtime: Runtime, principal: CurrentPrincipal) -> DeliveryOut:
    require_staff(principal)
    async with runtime.db.read() as session:
        return DeliveryOut.model_validate(await deliveries.get_delivery(session, delivery_id))


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryOut,
             summary="Re-queue a failed delivery (inspector, admin)")
async def retry_delivery(delivery_id: Id, runtime: Runtime, principal: CurrentPrincipal) -> DeliveryOut:
    require_staff(principal)
    if not principal.can_act_as_staff:
        raise Problem(403, "forbidden", "Forbidden", "only inspectors and administrators retry deliveries")
    async with runtime.db.transaction() as session:
        delivery = await deliveries.requeue(session, delivery_id=delivery_id, now=utcnow())
        return DeliveryOut.model_validate(delivery)


@router.get("", response_model=NotificationPage, summary="My inbox, newest first")
async def list_notifications(runtime: Runtime, principal: CurrentPrincipal, unread: bool | None = None,
                             limit: Limit = 50, offset: Offset = 0) -> NotificationPage:
    async with runtime.db.read() as session:
        rows, total, unread_count = await inbox.list_inbox(session, inbox_key=principal.inbox_key, unread=unread,
                                                           limit=limit, offset=offset)
    return NotificationPage(items=[notification_out(r) for r in rows], total=total, limit=limit, offset=offset,
                            unread=unread_count)


@router.post("/read-all", response_model=ReadAll, summary="Mark my whole inbox read")
async def read_all(runtime: Runtime, principal: CurrentPrincipal) -> ReadAll:
    async with runtime.db.transaction() as session:
        return ReadAll(marked=await inbox.mark_all_read(session, inbox_key=principal.inbox_key, now=utcnow()))


@router.post("/{notification_id}/read", response_model=NotificationOut, summary="Mark one notice read")
async def read_one(notification_id: Id, runtime: Runtime, principal: CurrentPrincipal,
                   response: Response) -> NotificationOut:
    async with runtime.db.transaction() as session:
        row = await inbox.mark_read(session, inbox_key=principal.inbox_key, notification_id=notification_id,
                                    now=utcnow())
        response.headers["ETag"] = f'"{row.version}"'
        return notification_out(row)
