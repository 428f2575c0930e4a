"""Helpers for the escalation tests: passes at a date, and what they left in the outbox, records and history."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import select

from rectrack.common.clock import FixedClock
from rectrack.common.db import Database
from rectrack.common.events.outbox import Outbox
from rectrack.common.events.subjects import RECOMMENDATION_ESCALATED
from rectrack.recommendations.escalation import PassResult, run_pass
from rectrack.recommendations.escalation_records import EscalationRecord
from rectrack.recommendations.ladder import LadderDays
from rectrack.recommendations.models import OUTBOX, HistoryEntry, Recommendation

DAYS = LadderDays()


def at(day: date) -> FixedClock:
    """A clock standing at 09:00 UTC on `day`."""
    return FixedClock(datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC))


async def pass_on(db: Database, day: date, *, batch_size: int = 1000) -> PassResult:
    """One escalation pass as of `day`."""
    return await run_pass(db, outbox=Outbox(OUTBOX, source="recommendations"), clock=at(day), days=DAYS,
                          batch_size=batch_size)


async def escalated_events(db: Database, recommendation_id: str | None = None) -> list[dict[str, Any]]:
    """The recommendation.escalated envelopes in the outbox, oldest first (optionally of one recommendation)."""
    query = select(OUTBOX.c.payload).where(OUTBOX.c.event_type == RECOMMENDATION_ESCALATED).order_by(OUTBOX.c.seq)
    async with db.read() as session:
        envelopes = [json.loads(p) for p in (await session.execute(query)).scalars()]
    return [e for e in envelopes if recommendation_id is None or e["subject"] == recommendation_id]


async def records(db: Database, recommendation_id: str | None = None) -> list[tuple[str, date, str]]:
    """(recommendation, due date, level) of every escalation record."""
    t = EscalationRecord
    query = select(t.recommendation_id, t.due_date, t.level).order_by(t.recommendation_id, t.due_date, t.level)
    if recommendation_id is not None:
        query = query.where(t.recommendation_id == recommendation_id)
    async with db.read() as session:
        return [tuple(row) for row in (await session.execute(query)).all()]  # type: ignore[misc]


async def level_of(db: Database, recommendation_id: str) -> tuple[str, int]:
    """(escalation_level, version) of one recommendation."""
    async with db.read() as session:
        row = (await session.execute(select(Recommendation.escalation_level, Recommendation.version)
                                     .where(Recommendation.id == recommendation_id))).one()
    return row.escalation_level, row.version


async def scheduler_history(db: Database, recommendation_id: str) -> list[HistoryEntry]:
    """The history entries the scheduler wrote for one recommendation."""
    query = select(HistoryEntry).where(HistoryEntry.recommendation_id == recommendation_id,
                                       HistoryEntry.actor_subject == "scheduler").order_by(HistoryEntry.seq)
    async with db.read() as session:
        return list((await session.execute(query)).scalars())
