"""The roll-up dashboard: counts by state per body, region, theme and report; escalation; overdue; time to complete.

Every figure comes from GROUP BY queries in the database; Python adds up groups, never rows.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

from sqlalchemy import Text, cast, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.auth import Principal
from rectrack.common.contracts import ESCALATION_LEVELS
from rectrack.common.db import Database
from rectrack.recommendations.lifecycle import State
from rectrack.recommendations.models import Body, Recommendation, Report
from rectrack.recommendations.queries import OPEN_STATE_VALUES, Filters, conditions

STATES = [s.value for s in State]


def _empty_states() -> dict[str, int]:
    return dict.fromkeys(STATES, 0)


def _roll_up(rows: Any, key_name: str, names: dict[Any, Any] | None = None) -> list[dict[str, Any]]:
    """Grouped counts [(key, state, overdue, count)] -> one entry per key: counts by state, total, overdue."""
    entries: dict[Any, dict[str, Any]] = {}
    for key, state, overdue, count in rows:
        entry = entries.setdefault(key, {key_name: key, "by_state": _empty_states(), "total": 0, "overdue": 0})
        entry["by_state"][state] = entry["by_state"].get(state, 0) + count
        entry["total"] += count
        entry["overdue"] += count if overdue else 0
    if names is not None:
        for key, entry in entries.items():
            entry["name"] = names.get(key)
    return sorted(entries.values(), key=lambda e: (e[key_name] is None, str(e[key_name])))


async def _median_days_to_complete(session: AsyncSession, where: list[Any]) -> float | None:
    """Median of completed_at - issued_at in days, over complete recommendations."""
    r = Recommendation
    complete = [*where, r.state == State.COMPLETE.value, r.issued_at.is_not(None), r.completed_at.is_not(None)]
    if session.get_bind().dialect.name == "postgresql":
        days = func.extract("epoch", r.completed_at - r.issued_at) / 86400.0
        value = (await session.execute(
            select(func.percentile_cont(0.5).within_group(days)).where(*complete))).scalar_one()
        return round(float(value), 2) if value is not None else None
    days = func.julianday(r.completed_at) - func.julianday(r.issued_at)
    n = (await session.execute(select(func.count()).select_from(r).where(*complete))).scalar_one()
    if not n:
        return None
    middle = (await session.execute(
        select(days).where(*complete).order_by(days).limit(2 - n % 2).offset((n - 1) // 2))).scalars().all()
    return round(sum(float(v) for v in middle) / len(middle), 2)


def _split_late(rows: Any) -> list[tuple[Any, str, bool, int]]:
    """(key, state, count, past due) groups -> (key, state, overdue, count); only open states can be overdue."""
    split: list[tuple[Any, str, bool, int]] = []
    for key, state, count, past_due in rows:
        late = past_due if state in OPEN_STATE_VALUES else 0
        if count - late:
            split.append((key, state, False, count - late))
        if late:
            split.append((key, state, True, late))
    return split


async def summary(db: Database, *, filters: Filters, principal: Principal, today: date) -> dict[str, Any]:
    """The dashboard for the filtered set (a body principal's own recommendations only).

    Three grouped scans, run concurrently on their own connections: by (body, state, escalation level), from
    which the totals, the levels, the per-body and the per-region figures all follow (regions from the bodies
    read model); by (report, state); by (theme list, state); plus the median. Each counts its rows and, with
    FILTER, those past their due date (overdue = past due and open, decided per group from the state), so the
    groups follow the covering indexes' column order and need no sort. Python only adds up the groups.
    """
    r = Recommendation
    where = conditions(filters, principal=principal, today=today)
    rows, past_due = func.count(), func.count().filter(r.due_date < today)
    themes_text = cast(r.themes, Text).label("themes")

    async def grouped(query: Any) -> list[Any]:
        async with db.read() as session:
            await _tune(session)
            return list((await session.execute(query)).all())

    async def median() -> float | None:
        async with db.read() as session:
            await _tune(session)
            return await _median_days_to_complete(session, where)

    body_groups, report_groups, theme_groups, median_days, bodies = await asyncio.gather(
        grouped(select(r.body_id, r.state, r.escalation_level, rows, past_due)
                .where(*where).group_by(r.body_id, r.state, r.escalation_level)),
        grouped(select(r.report_id, r.state, rows, past_due).where(*where).group_by(r.report_id, r.state)),
        # Grouped by the theme list itself: no join, and there are few distinct lists however many rows.
        grouped(select(themes_text, r.state, rows, past_due).where(*where).group_by(themes_text, r.state)),
        median(),
        grouped(select(Body.id, Body.name, Body.region)),  # the read model is small: a few hundred bodies
    )
    report_rows = _split_late(report_groups)
    titles = await _report_titles(db, sorted({key for key, *_ in report_rows}))
    body_by_id = {b.id: b for b in bodies}
    by_state = _empty_states()
    by_level = dict.fromkeys(ESCALATION_LEVELS, 0)
    overdue_total = 0
    per_body: list[tuple[Any, str, bool, int]] = []
    for body_id, state, level, count, late_rows in body_groups:
        late = late_rows if state in OPEN_STATE_VALUES else 0
        by_state[state] = by_state.get(state, 0) + count
        by_level[level] = by_level.get(level, 0) + count
        overdue_total += late
        per_body.extend(_split_late([(body_id, state, count, late)]))
    return {
        "as_of": today.isoformat(),
        "scope": "all" if principal.is_staff else f"body:{principal.body_id}",
        "total": sum(by_state.values()),
        "by_state": by_state,
        "by_escalation_level": by_level,
        "overdue": overdue_total,
        "median_days_to_complete": median_days,
        "by_body": _roll_up(per_body, "body_id", {k: b.name for k, b in body_by_id.items()}),
        "by_region": _roll_up([(body_by_id[k].region if k in body_by_id else None, state, late, count)
                               for k, state, late, count in per_body], "region"),
        "by_theme": _roll_up([(theme, state, late, count) for themes, state, late, count in _split_late(theme_groups)
                              for theme in dict.fromkeys(json.loads(themes or "[]"))], "theme"),
        "by_report": _roll_up(report_rows, "report_id", titles),
    }


async def _tune(session: AsyncSession) -> None:
    """On PostgreSQL, no JIT: compiling these short aggregates costs more than it saves."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL jit = off"))


async def _report_titles(db: Database, report_ids: list[str]) -> dict[str, str]:
    """Titles of the reports that have groups (by primary key, in chunks well under any bind limit)."""
    titles: dict[str, str] = {}
    if not report_ids:
        return titles
    async with db.read() as session:
        for at in range(0, len(report_ids), 5000):
            chunk = report_ids[at:at + 5000]
            titles.update((await session.execute(select(Report.id, Report.title).where(Report.id.in_(chunk)))).all())
    return titles
