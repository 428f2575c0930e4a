"""Creating recommendations (one tracked row per recipient body) and reading one or a group of them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.auth import Principal
from rectrack.common.contracts import RecommendationIssuedV1
from rectrack.common.db import new_id
from rectrack.common.errors import Problem, not_found
from rectrack.common.events.outbox import Outbox
from rectrack.common.events.subjects import RECOMMENDATION_CREATED, RECOMMENDATION_ISSUED
from rectrack.recommendations import history
from rectrack.recommendations.access import require_acting_staff, visibility
from rectrack.recommendations.bodies import check_recipients
from rectrack.recommendations.events import actor_v1, record, snapshot
from rectrack.recommendations.lifecycle import Action, State
from rectrack.recommendations.models import Body, Recommendation, RecommendationTheme, Report
from rectrack.recommendations.reports import get_report
from rectrack.recommendations.schemas import RecommendationFields
from rectrack.recommendations.views import recommendation_view


async def existing_references(session: AsyncSession, *, report_id: str,
                              pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which (reference, body_id) pairs the report already has."""
    if not pairs:
        return set()
    references = {ref for ref, _ in pairs}
    query = select(Recommendation.reference, Recommendation.body_id).where(
        Recommendation.report_id == report_id, Recommendation.reference.in_(references))
    found = {(r, b) for r, b in (await session.execute(query)).all()}
    return found.intersection(pairs)


async def create_group(session: AsyncSession, *, outbox: Outbox, report_id: str, data: RecommendationFields,
                       bodies: dict[str, Body], actor: Principal, now: datetime) -> list[Recommendation]:
    """One tracked recommendation per recipient, sharing a group id; drafts, or issued at once."""
    group_id = new_id()
    created = []
    for body_id in data.recipient_body_ids:
        rec = Recommendation(
            id=new_id(), group_id=group_id, report_id=report_id, body_id=body_id, kind=data.kind,
            reference=data.reference, title=data.title, text=data.text, themes=list(data.themes),
            priority=data.priority, benefits=data.benefits, risks=data.risks, closure_criteria=data.closure_criteria,
            due_date=data.due_date, owner=data.owner, state=State.DRAFT.value, escalation_level="none",
            progress_since_return=0, issued_at=now if data.issue else None, created_by=actor.subject,
            created_at=now, updated_at=now)
        if data.issue:
            rec.state = State.ISSUED.value
        session.add(rec)
        created.append(rec)
    await session.flush()
    theme_rows = [{"recommendation_id": r.id, "theme": t} for r in created for t in r.themes]
    if theme_rows:
        await session.execute(insert(RecommendationTheme), theme_rows)
    for rec in created:
        await history.append(session, recommendation_id=rec.id, actor=actor, at=now, action="create",
                             to_state=State.DRAFT.value, details={"group_id": group_id})
        if data.issue:
            await history.append(session, recommendation_id=rec.id, actor=actor, at=now, action=Action.ISSUE.value,
                                 from_state=State.DRAFT.value, to_state=State.ISSUED.value)
        payload = RecommendationIssuedV1(recommendation=snapshot(rec, bodies[rec.body_id].name),
                                         actor=actor_v1(actor))
        await record(session, outbox, RECOMMENDATION_ISSUED if data.issue else RECOMMENDATION_CREATED, rec, payload)
    return created


async def create_recommendations(session: AsyncSession, *, outbox: Outbox, report_id: str,
                                 data: RecommendationFields, actor: Principal, now: datetime) -> list[Recommendation]:
    """POST /recommendations: check the report and recipients, refuse a reference already given to a body."""
    require_acting_staff(actor)
    await get_report(session, report_id=report_id)
    bodies = await check_recipients(session, data.recipient_body_ids)
    clashes = await existing_references(session, report_id=report_id,
                                        pairs=[(data.reference, b) for b in data.recipient_body_ids])
    if clashes:
        names = ", ".join(sorted(b for _, b in clashes))
        raise Problem(409, "duplicate-reference", "Reference already used",
                      f"report already has {data.reference!r} for: {names}", body_ids=sorted(b for _, b in clashes))
    return await create_group(session, outbox=outbox, report_id=report_id, data=data, bodies=bodies, actor=actor,
                              now=now)


async def get_detail(session: AsyncSession, *, recommendation_id: str, principal: Principal,
                     today: date) -> tuple[Recommendation, dict[str, Any]]:
    """The recommendation as the caller sees it, with its report and body."""
    # One round trip: on SQLite every statement is a hop to the driver's thread, and this is the hottest read.
    query = (select(Recommendation, Body, Report)
             .outerjoin(Body, Body.id == Recommendation.body_id)
             .outerjoin(Report, Report.id == Recommendation.report_id)
             .where(Recommendation.id == recommendation_id, *visibility(principal)))
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise not_found("recommendation")
    rec, body, report = row
    return rec, recommendation_view(rec, principal=principal, today=today, body=body, report=report)


async def group_view(session: AsyncSession, *, group_id: str, principal: Principal) -> dict[str, Any]:
    """How many of the group's N bodies are in each state (a body sees only its own row counted)."""
    conditions = [Recommendation.group_id == group_id, *visibility(principal)]
    query = select(Recommendation.state, Recommendation.escalation_level, func.count()).where(*conditions).group_by(
        Recommendation.state, Recommendation.escalation_level)
    rows = (await session.execute(query)).all()
    if not rows:
        raise not_found("recommendation group")
    by_state: dict[str, int] = {}
    by_level: dict[str, int] = {}
    for state, level, count in rows:
        by_state[state] = by_state.get(state, 0) + count
        by_level[level] = by_level.get(level, 0) + count
    first = (await session.execute(select(Recommendation).where(*conditions).order_by(Recommendation.body_id)
                                   .limit(1))).scalar_one()
    members = (await session.execute(
        select(Recommendation.id, Recommendation.body_id, Body.name, Recommendation.state, Recommendation.version,
               Recommendation.due_date, Recommendation.escalation_level)
        .outerjoin(Body, Body.id == Recommendation.body_id).where(*conditions).order_by(Recommendation.body_id)
        .limit(1000))).all()
    return {
        "group_id": group_id, "report_id": first.report_id, "reference": first.reference, "title": first.title,
        "kind": first.kind, "total": sum(by_state.values()),
        "by_state": {s.value: by_state.get(s.value, 0) for s in State},
        "by_escalation_level": by_level,
        "items": [{"id": m.id, "body_id": m.body_id, "body_name": m.name, "state": m.state, "version": m.version,
                   "due_date": m.due_date.isoformat() if m.due_date else None,
                   "escalation_level": m.escalation_level} for m in members],
    }
