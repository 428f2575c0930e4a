"""The append-only history of one body's recommendation: written by every change, never edited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.auth import Principal
from rectrack.recommendations.models import HistoryEntry


async def append(session: AsyncSession, *, recommendation_id: str, actor: Principal, at: datetime, action: str,
                 from_state: str | None = None, to_state: str | None = None, reason: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
    """Add one entry (insert only: no code path updates or deletes history)."""
    await session.execute(insert(HistoryEntry).values(
        recommendation_id=recommendation_id, at=at, actor_kind=actor.kind, actor_subject=actor.subject,
        actor_name=actor.name, action=action, from_state=from_state, to_state=to_state, reason=reason,
        details=details,
    ))


async def list_history(session: AsyncSession, *, recommendation_id: str) -> list[dict[str, Any]]:
    """Every entry of one recommendation, oldest first."""
    query = select(HistoryEntry).where(HistoryEntry.recommendation_id == recommendation_id).order_by(HistoryEntry.seq)
    return [entry_view(e) for e in (await session.execute(query)).scalars()]


def entry_view(entry: HistoryEntry) -> dict[str, Any]:
    """The public shape of one entry."""
    return {
        "seq": entry.seq,
        "at": entry.at.isoformat(),
        "actor": {"kind": entry.actor_kind, "subject": entry.actor_subject, "name": entry.actor_name},
        "action": entry.action,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "reason": entry.reason,
        "details": entry.details or {},
    }
