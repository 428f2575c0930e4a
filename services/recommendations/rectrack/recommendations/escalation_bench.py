"""Escalation pass timings for `make bench`: cost follows the number of recommendations that change level.

`bench_escalation(url, total, changing)` fills a dedicated, empty database with `total` open recommendations
(generated inside the database: a recursive CTE on SQLite, generate_series on PostgreSQL), `changing` of which
reach `due_soon` one day later, then times a pass where nothing changes, the pass a day later where exactly
`changing` change, and a repeat of that pass (nothing left to change).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text

from rectrack.common.clock import FixedClock
from rectrack.common.db import Database, run_migrations
from rectrack.common.events.outbox import Outbox
from rectrack.recommendations.escalation import run_pass
from rectrack.recommendations.ladder import LadderDays
from rectrack.recommendations.models import OUTBOX, Recommendation

MIGRATIONS = Path(__file__).parent / "migrations"
BENCH_DAY = date(2030, 1, 1)

_COLUMNS = ("id, group_id, report_id, body_id, kind, reference, title, text, themes, priority, state, version, "
            "due_date, escalation_level, progress_since_return, issued_at, created_by, created_at, updated_at")

# Row n (1..total) is one of the `changing` rows when n <= :changing: level none, due T+15 (due_soon at T+1).
# The others sit at the level their due date deserves, far enough from each threshold that a day changes nothing:
# none (due T+16..T+515), due_soon (T+2..T+14), overdue (T-28..T-1), escalated (T-88..T-30), engage (T-90..T-589).
_SQLITE_FILL = f"""
WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :total),
shaped AS (
  SELECT n, n % 5 AS bucket, n % 500 AS k FROM seq
)
INSERT INTO recommendations ({_COLUMNS})
SELECT printf('%032x', n), printf('%032x', n), :report_id, 'bench-body', 'recommendation',
       printf('BENCH-%08d', n), 'Benchmark recommendation', 'Generated for the escalation benchmark', '[]',
       'medium', CASE n % 3 WHEN 0 THEN 'issued' WHEN 1 THEN 'in_progress' ELSE 'awaiting_review' END, 1,
       CASE WHEN n <= :changing THEN date(:today, '+15 days')
            WHEN bucket = 0 THEN date(:today, '+' || (16 + k) || ' days')
            WHEN bucket = 1 THEN date(:today, '+' || (2 + k % 13) || ' days')
            WHEN bucket = 2 THEN date(:today, '-' || (1 + k % 28) || ' days')
            WHEN bucket = 3 THEN date(:today, '-' || (30 + k % 59) || ' days')
            ELSE date(:today, '-' || (90 + k) || ' days') END,
       CASE WHEN n <= :changing THEN 'none'
            WHEN bucket = 0 THEN 'none' WHEN bucket = 1 THEN 'due_soon' WHEN bucket = 2 THEN 'overdue'
            WHEN bucket = 3 THEN 'escalated' ELSE 'engage' END,
       0, :stamp, 'bench', :stamp, :stamp
FROM shaped
"""

_POSTGRES_FILL = f"""
INSERT INTO recommendations ({_COLUMNS})
SELECT lpad(to_hex(n), 32, '0'), lpad(to_hex(n), 32, '0'), :report_id, 'bench-body', 'recommendation',
       'BENCH-' || lpad(n::text, 8, '0'), 'Benchmark recommendation', 'Generated for the escalation benchmark',
       '[]'::json, 'medium',
       CASE n % 3 WHEN 0 THEN 'issued' WHEN 1 THEN 'in_progress' ELSE 'awaiting_review' END, 1,
       CASE WHEN n <= :changing THEN CAST(:today AS date) + 15
            WHEN n % 5 = 0 THEN CAST(:today AS date) + (16 + n % 500)
            WHEN n % 5 = 1 THEN CAST(:today AS date) + (2 + n % 500 % 13)
            WHEN n % 5 = 2 THEN CAST(:today AS date) - (1 + n % 500 % 28)
            WHEN n % 5 = 3 THEN CAST(:today AS date) - (30 + n % 500 % 59)
            ELSE CAST(:today AS date) - (90 + n % 500) END,
       CASE WHEN n <= :changing THEN 'none'
            WHEN n % 5 = 0 THEN 'none' WHEN n % 5 = 1 THEN 'due_soon' WHEN n % 5 = 2 THEN 'overdue'
            WHEN n % 5 = 3 THEN 'escalated' ELSE 'engage' END,
       0, CAST(:stamp AS timestamptz), 'bench', CAST(:stamp AS timestamptz), CAST(:stamp AS timestamptz)
FROM generate_series(1, :total) AS n
"""


async def fill(db: Database, *, total: int, changing: int, today: date = BENCH_DAY) -> None:
    """Insert `total` open recommendations generated inside the database (one report, one body)."""
    if not 0 <= changing <= total:
        raise ValueError("changing must be between 0 and total")
    stamp = datetime.combine(today, datetime.min.time())
    async with db.transaction() as session:
        if (await session.execute(select(func.count()).select_from(Recommendation))).scalar_one():
            raise ValueError("bench_escalation needs an empty, dedicated database")
        report_id = "bench-report"
        await session.execute(text(
            "INSERT INTO reports (id, title, kind, level, created_by, created_at, version) "
            "VALUES (:id, 'Escalation benchmark', 'thematic', 'national', 'bench', :stamp, 1)"),
            {"id": report_id, "stamp": stamp if db.sqlite else stamp.replace(tzinfo=UTC)})
        await session.execute(text(
            "INSERT INTO bodies (id, name, kind, region, status, version, updated_at) "
            "VALUES ('bench-body', 'Benchmark Police', 'police_force', 'bench', 'active', 1, :stamp)"),
            {"stamp": stamp if db.sqlite else stamp.replace(tzinfo=UTC)})
        params: dict[str, Any] = {"total": total, "changing": changing, "report_id": report_id}
        if db.sqlite:
            params.update(today=today.isoformat(), stamp=stamp.isoformat(sep=" ", timespec="microseconds"))
            # Building the secondary indexes once after the insert is several times faster than maintaining
            # them row by row; they are recreated from their own stored SQL, so the schema ends as migrated.
            await session.execute(text("PRAGMA cache_size = -262144"))
            indexes = (await session.execute(text(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'recommendations' "
                "AND sql IS NOT NULL"))).all()
            for name, _ in indexes:
                await session.execute(text(f'DROP INDEX "{name}"'))
            await session.execute(text(_SQLITE_FILL), params)
            for _, sql in indexes:
                await session.execute(text(sql))
        else:
            params.update(today=today, stamp=stamp.replace(tzinfo=UTC))
            await session.execute(text(_POSTGRES_FILL), params)
    async with db.engine.connect() as conn:  # planner statistics, as autovacuum (or a DBA) would gather them
        await conn.exec_driver_sql("ANALYZE")
        await conn.commit()


async def bench_escalation(url: str, total: int, changing: int) -> dict[str, Any]:
    """Fill an empty database and time escalation passes; returns the figures (milliseconds)."""
    await asyncio.to_thread(run_migrations, MIGRATIONS, url)
    db = Database(url)
    try:
        started = time.perf_counter()
        await fill(db, total=total, changing=changing)
        fill_ms = (time.perf_counter() - started) * 1000
        outbox = Outbox(OUTBOX, source="recommendations")
        days = LadderDays()
        at = datetime.combine(BENCH_DAY, datetime.min.time(), tzinfo=UTC)
        idle = await run_pass(db, outbox=outbox, clock=FixedClock(at), days=days, keep_changes=False)
        moved = await run_pass(db, outbox=outbox, clock=FixedClock(at + timedelta(days=1)), days=days,
                               keep_changes=False)
        again = await run_pass(db, outbox=outbox, clock=FixedClock(at + timedelta(days=1)), days=days,
                               keep_changes=False)
        if idle.changed or moved.changed != changing or again.changed:
            raise RuntimeError(f"unexpected changes: {idle.changed}, {moved.changed}, {again.changed}")
        return {
            "backend": "sqlite" if db.sqlite else "postgresql",
            "total": total,
            "changing": changing,
            "fill_ms": round(fill_ms, 1),
            "pass_nothing_changes_ms": round(idle.elapsed_ms, 2),
            "pass_changing_ms": round(moved.elapsed_ms, 2),
            "pass_changing_per_change_ms": round(moved.elapsed_ms / changing, 3) if changing else None,
            "pass_repeat_ms": round(again.elapsed_ms, 2),
            "events": moved.events,
            "batches": moved.batches,
        }
    finally:
        await db.dispose()
