"""Deliveries: created once per (event, channel, recipient) in the consumer's transaction, claimed and settled
by the worker, listed and re-queued by staff. Status changes and their notification.* events commit together."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.contracts import NotificationOutcomeV1
from rectrack.common.db import new_id
from rectrack.common.errors import Problem, not_found
from rectrack.common.events import subjects
from rectrack.common.events.envelope import Envelope
from rectrack.common.events.outbox import Outbox
from rectrack.notifications.channels.base import Message
from rectrack.notifications.models import Delivery, KnownBody, Notification
from rectrack.notifications.recipients import Recipients

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"
STATUSES = (PENDING, SENDING, DELIVERED, FAILED)
# Set on a session that queued deliveries: the worker is woken when it commits.
WAKE_FLAG = "rectrack_notifications_queued"
_ERROR_CHARS = 2000


@dataclass(frozen=True)
class Notice:
    """What one event says, to whom, about what."""

    envelope: Envelope
    kind: str
    message: Message
    data: dict[str, Any]  # the webhook payload: the message data plus the event's identity
    body_id: str | None
    recommendation_id: str | None


async def record_notice(session: AsyncSession, *, notice: Notice, recipients: Recipients, outbox: Outbox,
                        now: datetime) -> None:
    """Write the inbox notices (delivered at once) and queue e-mail and webhook deliveries, each at most once."""
    env, message = notice.envelope, notice.message
    common = {"event_id": env.id, "event_type": env.type, "kind": notice.kind, "body_id": notice.body_id,
              "recommendation_id": notice.recommendation_id, "subject": message.subject[:500]}
    notices = [{**common, "id": new_id(), "inbox_key": inbox_key, "text": message.text, "data": notice.data,
                "created_at": now, "read_at": None, "version": 1} for inbox_key in recipients.inbox_keys]
    inbox_rows = [{**common, "id": new_id(), "channel": "inbox", "recipient": inbox_key, "recipient_name": None,
                   "audiences": audiences, "text": message.text, "html": None, "data": notice.data,
                   "status": DELIVERED, "attempts": 1, "budget_start": 0, "next_attempt_at": None, "last_error": None,
                   "version": 1, "created_at": now, "updated_at": now, "delivered_at": now}
                  for inbox_key, audiences in recipients.inbox_keys.items()]
    queued = [{**common, "id": new_id(), "channel": target.channel, "recipient": target.address,
               "recipient_name": target.name, "audiences": target.audiences, "text": message.text,
               "html": message.html, "data": notice.data, "status": PENDING, "attempts": 0, "budget_start": 0,
               "next_attempt_at": now, "last_error": None, "version": 1, "created_at": now, "updated_at": now,
               "delivered_at": None} for target in recipients.targets]
    # The consumer runs this once per event id; the unique keys make a second run a no-op all the same.
    await insert_all_ignoring_duplicates(session, Notification.__table__, notices)
    inserted = await insert_all_ignoring_duplicates(session, Delivery.__table__, inbox_rows + queued)
    for row in inbox_rows:
        if row["id"] in inserted:
            await record_outcome(session, outbox, row, subjects.NOTIFICATION_DELIVERED)
    if any(row["id"] in inserted for row in queued):
        session.sync_session.info[WAKE_FLAG] = True


async def insert_all_ignoring_duplicates(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> set[str]:
    """One multi-row INSERT .. ON CONFLICT DO NOTHING; returns the ids it inserted."""
    if not rows:
        return set()
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    # executemany with the rows as parameters: one cached statement, sent as multi-row INSERTs ("insertmanyvalues").
    statement = dialect_insert(table).on_conflict_do_nothing().returning(table.c.id)
    return set((await session.execute(statement, rows)).scalars().all())


async def record_outcome(session: AsyncSession, outbox: Outbox, delivery: dict[str, Any], event_type: str) -> None:
    """notification.delivered / notification.failed for one delivery, in the caller's transaction."""
    payload = NotificationOutcomeV1(
        delivery_id=delivery["id"], event_id=delivery["event_id"], event_type=delivery["event_type"],
        channel=delivery["channel"], recipient=delivery["recipient"], body_id=delivery.get("body_id"),
        attempts=delivery["attempts"], error=delivery.get("last_error"))
    await outbox.add(session, event_type, delivery["id"], payload.model_dump(mode="json"))


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds the lease on (version = the version its claim wrote)."""

    row: dict[str, Any]
    version: int
    attempts: int
    webhook_secret: str | None

    @property
    def id(self) -> str:
        """The delivery's id (stable across retries)."""
        return str(self.row["id"])


async def claim_due(session: AsyncSession, *, now: datetime, limit: int, lease_seconds: float,
                    exclude: set[str], skip_locked: bool) -> list[Claimed]:
    """Claim up to `limit` due deliveries, oldest due first: status sending, leased until now + lease."""
    t = Delivery.__table__
    query = (select(t.c.id, t.c.version).where(t.c.status.in_((PENDING, SENDING)), t.c.next_attempt_at <= now)
             .order_by(t.c.next_attempt_at, t.c.created_at).limit(limit + len(exclude)))
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    candidates = [row for row in (await session.execute(query)).all() if row.id not in exclude][:limit]
    lease_end = now + timedelta(seconds=lease_seconds)
    claimed_ids: list[str] = []
    for row in candidates:
        # The version check makes a claim exclusive even where rows cannot be locked (SQLite, other processes).
        result = await session.execute(
            update(t).where(t.c.id == row.id, t.c.version == row.version)
            .values(status=SENDING, attempts=t.c.attempts + 1, version=row.version + 1, next_attempt_at=lease_end,
                    updated_at=now))
        if result.rowcount == 1:  # type: ignore[attr-defined]
            claimed_ids.append(row.id)
    if not claimed_ids:
        return []
    secret = select(KnownBody.webhook_secret).where(KnownBody.id == t.c.body_id).scalar_subquery()
    rows = (await session.execute(select(t, secret.label("webhook_secret")).where(t.c.id.in_(claimed_ids))
                                  .order_by(t.c.next_attempt_at, t.c.created_at))).mappings().all()
    return [Claimed(row={k: v for k, v in row.items() if k != "webhook_secret"}, version=row["version"],
                    attempts=row["attempts"], webhook_secret=row["webhook_secret"]) for row in rows]


async def settle(session: AsyncSession, outbox: Outbox, claimed: Claimed, *, status: str, now: datetime,
                 error: str | None, next_attempt_at: datetime | None) -> bool:
    """Record the outcome of an attempt, unless the lease was lost meanwhile; False when it was."""
    t = Delivery.__table__
    values: dict[str, Any] = {"status": status, "version": claimed.version + 1, "updated_at": now,
                              "next_attempt_at": next_attempt_at,
                              "last_error": error[:_ERROR_CHARS] if error else None}
    if status == DELIVERED:
        values["delivered_at"] = now
    result = await session.execute(update(t).where(t.c.id == claimed.id, t.c.version == claimed.version)
                                   .values(**values))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if status in (DELIVERED, FAILED):
        event_type = subjects.NOTIFICATION_DELIVERED if status == DELIVERED else subjects.NOTIFICATION_FAILED
        await record_outcome(session, outbox, {**claimed.row, **values, "attempts": claimed.attempts}, event_type)
    return True


async def next_due(session: AsyncSession) -> datetime | None:
    """When the earliest pending (or leased) delivery falls due."""
    t = Delivery.__table__
    return (await session.execute(select(func.min(t.c.next_attempt_at))
                                  .where(t.c.status.in_((PENDING, SENDING))))).scalar_one_or_none()


async def list_deliveries(session: AsyncSession, *, body_id: str | None, channel: str | None, status: str | None,
                          event_id: str | None, limit: int, offset: int) -> tuple[list[Delivery], int]:
    """The delivery log, newest first, filtered."""
    conditions = []
    if body_id:
        conditions.append(Delivery.body_id == body_id)
    if channel:
        conditions.append(Delivery.channel == channel)
    if status:
        conditions.append(Delivery.status == status)
    if event_id:
        conditions.append(Delivery.event_id == event_id)
    total = (await session.execute(select(func.count()).select_from(Delivery).where(*conditions))).scalar_one()
    rows = (await session.execute(select(Delivery).where(*conditions)
                                  .order_by(Delivery.created_at.desc(), Delivery.id.desc())
                                  .limit(limit).offset(offset))).scalars().all()
    return list(rows), int(total)


async def get_delivery(session: AsyncSession, delivery_id: str) -> Delivery:
    """One delivery, or 404."""
    found = (await session.execute(select(Delivery).where(Delivery.id == delivery_id))).scalar_one_or_none()
    if found is None:
        raise not_found("delivery")
    return found


async def requeue(session: AsyncSession, *, delivery_id: str, now: datetime) -> Delivery:
    """Send a failed delivery again, with a fresh budget of attempts; 409 unless it failed."""
    delivery = await get_delivery(session, delivery_id)
    if delivery.status != FAILED:
        raise Problem(409, "delivery-not-failed", "Delivery not failed",
                      f"only a failed delivery can be retried; this one is {delivery.status}",
                      delivery_status=delivery.status)
    t = Delivery.__table__
    result = await session.execute(
        update(t).where(t.c.id == delivery.id, t.c.version == delivery.version)
        .values(status=PENDING, budget_start=delivery.attempts, next_attempt_at=now, version=delivery.version + 1,
                updated_at=now))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Problem(409, "conflict", "Conflict", "the delivery changed meanwhile; read it and try again")
    session.sync_session.info[WAKE_FLAG] = True
    await session.refresh(delivery)
    return delivery
