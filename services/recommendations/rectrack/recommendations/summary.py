"""The roll-up dashboard: counts by state per body, region, theme and report; escalation; overdue; time to complete.

Every figure comes from GROUP BY queries in the database; Python adds up groups, never rows.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from typing import Any

from sqlalchemy import Text, case, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.auth import Principal
from rectrack.common.contracts import ESCALATION_LEVELS
from rectrack.common.db import Database
from rectrack.recommendations.lifecycle import State
from rectrack.recommendations.models import Body, Recommendation, Report
from rectrack.recommendations.queries import Filters, conditions, overdue_condition

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


async def summary(db: Database, *, filters: Filters, principal: Principal, today: date) -> dict[str, Any]:
    """The dashboard for the filtered set (a body principal's own recommendations only).

    Three grouped scans, run concurrently on their own connections: by (body, state, escalation level,
    overdue), from which the totals, the levels, the per-body and the per-region figures all follow (regions
    from the bodies read model); by (report, state, overdue); by (theme list, state, overdue); plus the median.
    Python only adds up the groups, never the rows.
    """
    r = Recommendation
    where = conditions(filters, principal=principal, today=today)
    overdue = case((overdue_condition(today), 1), else_=0).label("overdue")
    themes_text = cast(r.themes, Text).label("themes")

    async def grouped(query: Any) -> list[Any]:
        async with db.read() as session:
            return list((await session.execute(query)).all())

    async def median() -> float | None:
        async with db.read() as session:
            return await _median_days_to_complete(session, where)

    body_groups, report_rows, theme_rows, median_days, bodies, titles = await asyncio.gather(
        grouped(select(r.body_id, r.state, r.escalation_level, overdue, func.count())
                .where(*where).group_by(r.body_id, r.state, r.escalation_level, overdue)),
        grouped(select(r.report_id, r.state, overdue, func.count()).where(*where)
                .group_by(r.report_id, r.state, overdue)),
        # Grouped by the theme list itself: no join, and there are few distinct lists however many rows.
        grouped(select(themes_text, r.state, overdue, func.count()).where(*where)
                .group_by(themes_text, r.state, overdue)),
        median(),
        grouped(select(Body.id, Body.name, Body.region)),  # the read model is small: a few hundred bodies
        grouped(select(Report.id, Report.title).where(Report.id.in_(select(r.report_id).where(*where).distinct()))),
    )
    body_by_id = {b.id: b for b in bodies}
    by_state = _empty_states()
    by_level = dict.fromkeys(ESCALATION_LEVELS, 0)
    overdue_total = 0
    for _, state, level, late, count in body_groups:
        by_state[state] = by_state.get(state, 0) + count
        by_level[level] = by_level.get(level, 0) + count
        overdue_total += count if late else 0
    per_body = [(body_id, state, late, count) for body_id, state, _, late, count in body_groups]
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
        "by_theme": _roll_up([(theme, state, late, count) for themes, state, late, count in theme_rows
                              for theme in dict.fromkeys(json.loads(themes or "[]"))], "theme"),
        "by_report": _roll_up(report_rows, "report_id", dict(titles)),
    }
