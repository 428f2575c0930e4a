"""Use cases on inspection reports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.auth import Principal
from rectrack.common.db import new_id
from rectrack.common.errors import not_found
from rectrack.common.events.outbox import Outbox
from rectrack.common.events.subjects import REPORT_CREATED
from rectrack.recommendations.models import Report
from rectrack.recommendations.schemas import ReportIn


def report_view(report: Report) -> dict[str, Any]:
    """The public shape of a report."""
    return {
        "id": report.id, "title": report.title, "kind": report.kind, "level": report.level,
        "published_on": report.published_on.isoformat() if report.published_on else None, "url": report.url,
        "created_by": report.created_by, "created_at": report.created_at.isoformat(), "version": report.version,
    }


async def create_report(session: AsyncSession, *, outbox: Outbox, data: ReportIn, actor: Principal,
                        now: datetime) -> Report:
    """Record a new report and announce it."""
    report = Report(id=new_id(), title=data.title, kind=data.kind, level=data.level, published_on=data.published_on,
                    url=data.url, created_by=actor.subject, created_at=now, version=1)
    session.add(report)
    await session.flush()
    await outbox.add(session, REPORT_CREATED, report.id, {**report_view(report),
                                                           "actor": {"kind": actor.kind, "subject": actor.subject,
                                                                     "name": actor.name}})
    return report


async def get_report(session: AsyncSession, *, report_id: str) -> Report:
    """One report, or 404."""
    report = await session.get(Report, report_id)
    if report is None:
        raise not_found("report")
    return report


async def list_reports(session: AsyncSession, *, kind: str | None, level: str | None, q: str | None, limit: int,
                       offset: int) -> tuple[list[Report], int]:
    """Reports, newest first, with the total before paging."""
    conditions = []
    if kind:
        conditions.append(Report.kind == kind)
    if level:
        conditions.append(Report.level == level)
    if q:
        conditions.append(Report.title.ilike(f"%{escape_like(q)}%", escape="\\"))
    total = (await session.execute(select(func.count()).select_from(Report).where(*conditions))).scalar_one()
    query = select(Report).where(*conditions).order_by(Report.created_at.desc(), Report.id).limit(limit).offset(offset)
    return list((await session.execute(query)).scalars()), int(total)


def escape_like(text: str) -> str:
    """A LIKE pattern matching the text literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
