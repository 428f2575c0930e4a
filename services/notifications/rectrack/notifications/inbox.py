"""The in-app inbox: a principal reads, and marks read, only the notices of its own inbox key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.errors import not_found
from rectrack.notifications.models import Notification


async def list_inbox(session: AsyncSession, *, inbox_key: str, unread: bool | None, limit: int, offset: int
                     ) -> tuple[list[Notification], int, int]:
    """One inbox, newest first; returns (page, total matching, unread in the whole inbox)."""
    conditions = [Notification.inbox_key == inbox_key]
    if unread is True:
        conditions.append(Notification.read_at.is_(None))
    elif unread is False:
        conditions.append(Notification.read_at.is_not(None))
    total = (await session.execute(select(func.count()).select_from(Notification).where(*conditions))).scalar_one()
    unread_count = (await session.execute(select(func.count()).select_from(Notification).where(
        Notification.inbox_key == inbox_key, Notification.read_at.is_(None)))).scalar_one()
    rows = (await session.execute(select(Notification).where(*conditions)
                                  .order_by(Notification.created_at.desc(), Notification.id.desc())
                                  .limit(limit).offset(offset))).scalars().all()
    return list(rows), int(total), int(unread_count)


async def mark_read(session: AsyncSession, *, inbox_key: str, notification_id: str, now: datetime) -> Notification:
    """Mark one notice read (again is harmless); another inbox's notice is 404."""
    found = (await session.execute(select(Notification).where(
        Notification.id == notification_id, Notification.inbox_key == inbox_key))).scalar_one_or_none()
    if found is None:
        raise not_found("notification")
    if found.read_at is None:
        found.read_at = now
        found.version += 1
        await session.flush()
    return found


async def mark_all_read(session: AsyncSession, *, inbox_key: str, now: datetime) -> int:
    """Mark every unread notice of an inbox read; returns how many."""
    result = await session.execute(
        update(Notification).where(Notification.inbox_key == inbox_key, Notification.read_at.is_(None))
        .values(read_at=now, version=Notification.version + 1))
    return int(result.rowcount)  # type: ignore[attr-defined]
