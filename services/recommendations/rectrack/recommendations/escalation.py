"""One escalation pass: move every open recommendation to the level its due date and the clock give it.

How a pass stays cheap and exactly-once:
- Candidates come from range probes on the partial index (escalation_level, due_date) of open recommendations:
  for each current level, the rows whose due date now deserves a higher level (or, after a due date moved, a lower
  one). A pass where nothing changes reads eight empty index ranges, whatever the table holds.
- Each batch is its own bounded transaction. On PostgreSQL the batch is locked with FOR UPDATE SKIP LOCKED, so
  concurrent passes split the work; on SQLite writers are serialised by BEGIN IMMEDIATE.
- Reaching a level inserts an `escalation_records` row keyed (recommendation, due date, level) with insert_ignore;
  the `recommendation.escalated` event is written to the outbox only when this pass inserted the record of the
  level it announces, in the same transaction as the level update. Two passes racing, or a pass re-run after a
  crash, therefore never announce a level twice for one due date.

Decisions (documented in the report and README):
- Upward move whose level is newly reached for this due date: column + version + history `escalated` + one event
  naming the levels passed over (`skipped_levels`, only those newly recorded by this move).
- Upward move to a level already reached for this due date (a reopened recommendation climbing back): column +
  version + history `escalation_restored`, no event.
- Downward move (the due date moved later by a route that did not reset the level): column + version + history
  `escalation_lowered`, no event. An extension grant already resets the level to `none`; the pass then climbs
  against the new due date, whose records are new, so its levels are announced again.
- Closed recommendations are never selected; the lifecycle sets their level to `none` when they close.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, insert, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.clock import Clock
from rectrack.common.contracts import EscalatedV1, EscalationLevel
from rectrack.common.db import Database, insert_ignore_many, utcnow
from rectrack.common.events.outbox import Outbox
from rectrack.common.events.subjects import RECOMMENDATION_ESCALATED
from rectrack.common.faults import crash_point
from rectrack.recommendations.escalation_records import OPEN_STATES_SQL, EscalationRecord
from rectrack.recommendations.events import snapshot
from rectrack.recommendations.ladder import (
    RUNGS,
    LadderDays,
    describe,
    level_for,
    rank,
    threshold,
)
from rectrack.recommendations.models import Body, HistoryEntry, Recommendation

# Who the history says acted: the system's scheduler, not a person or a calling service.
SCHEDULER_ACTOR = {"actor_kind": "system", "actor_subject": "scheduler", "actor_name": "escalation scheduler"}

_CANDIDATE_COLUMNS = (
    Recommendation.id, Recommendation.group_id, Recommendation.report_id, Recommendation.reference,
    Recommendation.title, Recommendation.kind, Recommendation.body_id, Recommendation.state,
    Recommendation.version, Recommendation.due_date, Recommendation.escalation_level, Recommendation.owner,
    Recommendation.priority, Recommendation.themes,
)


@dataclass(frozen=True, slots=True)
class Change:
    """One recommendation whose level this pass changed."""

    recommendation_id: str
    reference: str
    body_id: str
    body_name: str | None
    due_date: date
    previous_level: EscalationLevel
    level: EscalationLevel
    skipped_levels: tuple[EscalationLevel, ...] = ()
    announced: bool = False  # a recommendation.escalated event was recorded

    @property
    def direction(self) -> str:
        """`up` or `down`."""
        return "up" if rank(self.level) > rank(self.previous_level) else "down"


@dataclass
class PassResult:
    """What one pass did."""

    as_of: datetime
    changes: list[Change] = field(default_factory=list)
    changed: int = 0
    events: int = 0
    batches: int = 0
    elapsed_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Probe:
    """One index range of candidates: open rows at `level` whose due date is past (or before) a threshold."""

    level: EscalationLevel
    condition: ColumnElement[bool]


def probes(today: date, days: LadderDays) -> list[Probe]:
    """The index ranges holding every open recommendation whose level is wrong on `today`."""
    r = Recommendation
    found: list[Probe] = []
    # Down first: a level no longer deserved (its due date moved later without a reset of the level).
    for level in RUNGS:
        found.append(Probe(level, r.due_date > threshold(level, today, days)))
    # Up: from each level below the top, the rows whose due date has reached the next rung.
    for level, next_rung in zip(("none", *RUNGS[:-1]), RUNGS, strict=True):
        found.append(Probe(level, r.due_date <= threshold(next_rung, today, days)))  # type: ignore[arg-type]
    return found


def candidates_query(probe: Probe, *, limit: int, lock: bool) -> Any:
    """The SELECT of one batch of one probe (literal open-state list so the partial index applies)."""
    r = Recommendation
    query = select(*_CANDIDATE_COLUMNS).where(
        and_(sql_text(OPEN_STATES_SQL), r.escalation_level == probe.level, probe.condition)
    ).order_by(r.due_date).limit(limit)  # the index order: no sort, and LIMIT stops the probe early
    if lock:
        query = query.with_for_update(skip_locked=True)
    return query


async def run_pass(db: Database, *, outbox: Outbox, clock: Clock, days: LadderDays, batch_size: int = 1000,
                   keep_changes: bool = True) -> PassResult:
    """Bring every open recommendation to its level as of the clock; batches commit one by one."""
    started = time.perf_counter()
    as_of = clock.now()
    today = clock.today()
    result = PassResult(as_of=as_of)
    for probe in probes(today, days):
        while True:
            async with db.transaction() as session:
                rows = (await session.execute(candidates_query(probe, limit=batch_size, lock=not db.sqlite))).all()
                if not rows:
                    break
                changes = await _apply_batch(session, rows, outbox=outbox, as_of=as_of, today=today, days=days)
            result.batches += 1
            result.changed += len(changes)
            result.events += sum(1 for c in changes if c.announced)
            if keep_changes:
                result.changes.extend(changes)
            crash_point("escalation.after_batch")
            # Fewer rows than asked: the range is drained (or the rest is locked by a concurrent pass doing it).
            if len(rows) < batch_size or not changes:
                break
    result.elapsed_ms = (time.perf_counter() - started) * 1000
    return result


class ConcurrentChange(RuntimeError):
    """A candidate changed between its SELECT and its UPDATE; the batch rolls back and the next pass retries."""


async def _apply_batch(session: AsyncSession, rows: list[Any], *, outbox: Outbox, as_of: datetime, today: date,
                       days: LadderDays) -> list[Change]:
    moves = [(row, level_for(row.due_date, today, days)) for row in rows]
    moves = [(row, level) for row, level in moves if level != row.escalation_level]
    if not moves:
        return []
    await _move_levels(session, moves, as_of=as_of)
    body_ids = {row.body_id for row, _ in moves}
    names: dict[str, str] = dict((await session.execute(select(Body.id, Body.name).where(Body.id.in_(body_ids)))).all())
    reached = await _record_levels(session, moves, as_of=as_of)
    changes: list[Change] = []
    entries: list[dict[str, Any]] = []
    events: list[tuple[str, str, dict[str, Any]]] = []
    for row, level in moves:
        previous: EscalationLevel = row.escalation_level
        newly = [rung for rung in RUNGS[rank(previous):rank(level)] if (row.id, rung) in reached]
        announced = level in newly
        skipped = tuple(rung for rung in newly if rung != level)
        action = "escalated" if announced else ("escalation_restored" if rank(level) > rank(previous)
                                                else "escalation_lowered")
        entries.append({
            "recommendation_id": row.id, "at": as_of, **SCHEDULER_ACTOR, "action": action,
            "from_state": None, "to_state": None,
            "reason": f"{previous} → {level}: {describe(level, row.due_date, today)}",
            "details": {"from_level": previous, "to_level": level, "skipped_levels": list(skipped),
                        "due_date": row.due_date.isoformat(), "as_of": as_of.isoformat()},
        })
        body_name = names.get(row.body_id)
        if announced:
            rec = _transient(row, level=level)
            events.append((RECOMMENDATION_ESCALATED, rec.id, EscalatedV1(
                recommendation=snapshot(rec, body_name), level=level, previous_level=previous,
                skipped_levels=list(skipped), due_date=row.due_date, as_of=as_of).model_dump(mode="json")))
        changes.append(Change(recommendation_id=row.id, reference=row.reference, body_id=row.body_id,
                              body_name=body_name, due_date=row.due_date, previous_level=previous, level=level,
                              skipped_levels=skipped, announced=announced))
    await outbox.add_many(session, events)
    # The history table is append-only; one multi-row INSERT of the batch's entries (same rows history.append
    # writes one by one).
    await session.execute(insert(HistoryEntry), entries)
    return changes


async def _move_levels(session: AsyncSession, moves: list[tuple[Any, EscalationLevel]], *, as_of: datetime) -> None:
    """One UPDATE per (previous, new) level pair, guarded on what was read; a changed row aborts the batch."""
    groups: dict[tuple[str, str], list[str]] = {}
    for row, level in moves:
        groups.setdefault((row.escalation_level, level), []).append(row.id)
    r = Recommendation
    for (previous, level), ids in groups.items():
        moved = await session.execute(
            update(r).where(r.id.in_(ids), r.escalation_level == previous, sql_text(OPEN_STATES_SQL))
            .values(escalation_level=level, version=r.version + 1, updated_at=as_of)
            .execution_options(synchronize_session=False))
        # The rows are locked (FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite) so this cannot happen;
        # if it ever does, nothing of the batch is kept.
        if moved.rowcount != len(ids):  # type: ignore[attr-defined]
            raise ConcurrentChange(f"{len(ids) - moved.rowcount} candidate(s) changed meanwhile")  # type: ignore


async def _record_levels(session: AsyncSession, moves: list[tuple[Any, EscalationLevel]], *,
                         as_of: datetime) -> set[tuple[str, EscalationLevel]]:
    """Record every rung the batch climbs for its due dates in one statement; returns those recorded just now."""
    now = utcnow()
    rows = [{"recommendation_id": row.id, "due_date": row.due_date, "level": rung, "as_of": as_of,
             "recorded_at": now, "announced_level": level}
            for row, level in moves if rank(level) > rank(row.escalation_level)
            for rung in RUNGS[rank(row.escalation_level):rank(level)]]
    table = EscalationRecord.__table__
    inserted = await insert_ignore_many(session, table, rows, returning=(table.c.recommendation_id, table.c.level))
    return {(r.recommendation_id, r.level) for r in inserted}


def _transient(row: Any, *, level: EscalationLevel) -> Recommendation:
    """The recommendation as it now stands, for the event snapshot (never added to the session)."""
    values = dict(row._mapping)
    values.update(escalation_level=level, version=row.version + 1)
    return Recommendation(**values)


def format_change(change: Change) -> str:
    """One line of `rectrack escalate` output."""
    body = change.body_id if not change.body_name else f"{change.body_id} ({change.body_name})"
    line = f"{change.reference}  {body}  {change.previous_level} → {change.level}"
    if change.skipped_levels:
        line += f"  (skipped: {', '.join(change.skipped_levels)})"
    if not change.announced:
        line += "  [no event: level " + ("lowered" if change.direction == "down" else "already reached") + "]"
    return line
