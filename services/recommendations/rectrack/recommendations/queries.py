"""Filtered, sorted, paged queries over per-body recommendations, scoped to what the caller may see."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.auth import Principal
from rectrack.common.db import Database
from rectrack.common.errors import Problem
from rectrack.recommendations.access import visibility
from rectrack.recommendations.lifecycle import OPEN_STATES
from rectrack.recommendations.models import Body, Recommendation, RecommendationTheme, Report
from rectrack.recommendations.reports import escape_like
from rectrack.recommendations.views import recommendation_view

OPEN_STATE_VALUES = sorted(s.value for s in OPEN_STATES)
SORT_COLUMNS: dict[str, Any] = {
    "due_date": Recommendation.due_date, "updated_at": Recommendation.updated_at,
    "created_at": Recommendation.created_at, "issued_at": Recommendation.issued_at,
    "reference": Recommendation.reference, "title": Recommendation.title, "state": Recommendation.state,
    "escalation_level": Recommendation.escalation_level, "priority": Recommendation.priority,
    "body_id": Recommendation.body_id,
}
MAX_LIMIT = 500


@dataclass
class Filters:
    """The query parameters every list, summary and export accepts."""

    body_id: list[str] = field(default_factory=list)
    region: list[str] = field(default_factory=list)
    body_kind: list[str] = field(default_factory=list)
    report_id: list[str] = field(default_factory=list)
    group_id: str | None = None
    kind: list[str] = field(default_factory=list)
    theme: list[str] = field(default_factory=list)
    state: list[str] = field(default_factory=list)
    escalation_level: list[str] = field(default_factory=list)
    priority: list[str] = field(default_factory=list)
    overdue: bool | None = None
    due_before: date | None = None
    due_after: date | None = None
    q: str | None = None


def overdue_condition(today: date) -> Any:
    """Open and past its due date."""
    return and_(Recommendation.due_date < today, Recommendation.state.in_(OPEN_STATE_VALUES))


def conditions(filters: Filters, *, principal: Principal, today: date) -> list[Any]:
    """WHERE conditions for the filters, always including the caller's scope."""
    where: list[Any] = list(visibility(principal))
    r = Recommendation
    if filters.body_id:
        where.append(r.body_id.in_(filters.body_id))
    if filters.region:
        where.append(r.body_id.in_(select(Body.id).where(Body.region.in_(filters.region))))
    if filters.body_kind:
        where.append(r.body_id.in_(select(Body.id).where(Body.kind.in_(filters.body_kind))))
    if filters.report_id:
        where.append(r.report_id.in_(filters.report_id))
    if filters.group_id:
        where.append(r.group_id == filters.group_id)
    if filters.kind:
        where.append(r.kind.in_(filters.kind))
    if filters.theme:
        themes = [t.strip().lower() for t in filters.theme]
        where.append(r.id.in_(select(RecommendationTheme.recommendation_id).where(RecommendationTheme.theme.in_(themes))))
    if filters.state:
        where.append(r.state.in_(filters.state))
    if filters.escalation_level:
        where.append(r.escalation_level.in_(filters.escalation_level))
    if filters.priority:
        where.append(r.priority.in_(filters.priority))
    if filters.overdue is True:
        where.append(overdue_condition(today))
    elif filters.overdue is False:
        where.append(or_(r.due_date.is_(None), not_(overdue_condition(today))))
    if filters.due_before:
        where.append(r.due_date < filters.due_before)
    if filters.due_after:
        where.append(r.due_date > filters.due_after)
    if filters.q and filters.q.strip():
        pattern = f"%{escape_like(filters.q.strip())}%"
        where.append(or_(r.reference.ilike(pattern, escape="\\"), r.title.ilike(pattern, escape="\\"),
                         r.text.ilike(pattern, escape="\\")))
    return where


def order_by(sort: str | None) -> list[Any]:
    """ORDER BY for `sort` (comma-separated keys, `-` for descending); the id breaks ties so paging is stable."""
    clauses: list[Any] = []
    for key in (sort or "due_date").split(","):
        key = key.strip()
        descending = key.startswith("-")
        column = SORT_COLUMNS.get(key.lstrip("-+"))
        if column is None:
            raise Problem(422, "validation", "Invalid request", f"cannot sort by {key!r}",
                          errors=[{"field": "sort", "message": f"one of {', '.join(sorted(SORT_COLUMNS))}"}])
        clauses.append(column.desc().nulls_last() if descending else column.asc().nulls_last())
    clauses.append(Recommendation.id)
    return clauses


def _rows_query(where: list[Any], sort: str | None) -> Select[Any]:
    return (select(Recommendation, Body, Report)
            .outerjoin(Body, Body.id == Recommendation.body_id)
            .outerjoin(Report, Report.id == Recommendation.report_id)
            .where(*where).order_by(*order_by(sort)))


async def list_recommendations(session: AsyncSession, *, filters: Filters, sort: str | None, limit: int, offset: int,
                               principal: Principal, today: date) -> dict[str, Any]:
    """One page of recommendations, with the total matching."""
    where = conditions(filters, principal=principal, today=today)
    query = _rows_query(where, sort).limit(limit).offset(offset)
    total = (await session.execute(select(func.count()).select_from(Recommendation).where(*where))).scalar_one()
    items = [recommendation_view(rec, principal=principal, today=today, body=body, report=report, detail=False)
             for rec, body, report in (await session.execute(query)).all()]
    return {"items": items, "total": int(total), "limit": limit, "offset": offset}


EXPORT_COLUMNS = ("id", "group_id", "reference", "kind", "title", "report_id", "report_title", "body_id", "body_name",
                  "region", "state", "version", "priority", "themes", "owner", "due_date", "overdue",
                  "escalation_level", "issued_at", "completed_at", "updated_at")


def _cell(value: Any) -> str:
    text = "" if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)
    # A cell a spreadsheet would evaluate as a formula is quoted as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([_cell(v) for v in values])
    return buffer.getvalue()


async def export_csv(db: Database, *, filters: Filters, sort: str | None, principal: Principal,
                     today: date) -> AsyncIterator[bytes]:
    """The filtered list as CSV, streamed from the database in batches."""
    where = conditions(filters, principal=principal, today=today)
    query = _rows_query(where, sort).execution_options(yield_per=500)
    yield _csv_line(list(EXPORT_COLUMNS)).encode()
    async with db.read() as session:
        result = await session.stream(query)
        async for partition in result.partitions(500):
            lines = []
            for rec, body, report in partition:
                overdue = rec.due_date is not None and rec.due_date < today and rec.state in OPEN_STATE_VALUES
                lines.append(_csv_line([
                    rec.id, rec.group_id, rec.reference, rec.kind, rec.title, rec.report_id,
                    report.title if report else None, rec.body_id, body.name if body else None,
                    body.region if body else None, rec.state, rec.version, rec.priority, ";".join(rec.themes or []),
                    rec.owner, rec.due_date, "true" if overdue else "false", rec.escalation_level, rec.issued_at,
                    rec.completed_at, rec.updated_at]))
            yield "".join(lines).encode()
