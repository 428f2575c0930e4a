"""Due-date extension requests: a body asks with a reason, staff grant or refuse with a reason."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from rectrack.common.auth import Principal
from rectrack.common.contracts import DueDateChangedV1, ExtensionDecidedV1, ExtensionRequestedV1
from rectrack.common.db import new_id
from rectrack.common.errors import Problem, not_found
from rectrack.common.events.outbox import Outbox
from rectrack.common.events.subjects import (
    RECOMMENDATION_DUE_DATE_CHANGED,
    RECOMMENDATION_EXTENSION_DECIDED,
    RECOMMENDATION_EXTENSION_REQUESTED,
)
from rectrack.recommendations import history
from rectrack.recommendations.access import load_visible, require_acting_staff
from rectrack.recommendations.events import actor_v1, record, snapshot
from rectrack.recommendations.lifecycle import OPEN_STATES, State
from rectrack.recommendations.models import Body, ExtensionRequest
from rectrack.recommendations.schemas import ExtensionDecisionIn, ExtensionRequestIn

PENDING, GRANTED, REFUSED = "pending", "granted", "refused"


def request_view(req: ExtensionRequest) -> dict[str, Any]:
    """The public shape of an extension request."""
    def iso(value: date | datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": req.id, "recommendation_id": req.recommendation_id, "status": req.status,
        "proposed_due_date": iso(req.proposed_due_date), "previous_due_date": iso(req.previous_due_date),
        "reason": req.reason,
        "requested_by": {"kind": req.requested_by_kind, "subject": req.requested_by, "name": req.requested_by_name},
        "requested_at": iso(req.requested_at),
        "decided_by": {"subject": req.decided_by, "name": req.decided_by_name} if req.decided_by else None,
        "decided_at": iso(req.decided_at), "decision_reason": req.decision_reason,
    }


def _conflict(detail: str) -> Problem:
    return Problem(409, "extension-conflict", "Extension request conflict", detail)


async def request_extension(session: AsyncSession, *, outbox: Outbox, recommendation_id: str,
                            data: ExtensionRequestIn, actor: Principal, now: datetime) -> ExtensionRequest:
    """A body asks to move its due date; the date must be later than the current one."""
    rec = await load_visible(session, recommendation_id, actor)
    if actor.kind != "body":
        raise Problem(403, "forbidden", "Forbidden", "only the recommendation's body asks for an extension")
    if State(rec.state) not in OPEN_STATES:
        raise _conflict(f"the recommendation is {rec.state}; only open recommendations can be extended")
    floor = rec.due_date or now.date()
    if data.proposed_due_date <= floor:
        raise Problem(422, "validation", "Invalid request", f"proposed_due_date must be after {floor.isoformat()}",
                      errors=[{"field": "proposed_due_date", "message": f"must be after {floor.isoformat()}"}])
    pending = (await session.execute(select(ExtensionRequest.id).where(
        ExtensionRequest.recommendation_id == rec.id, ExtensionRequest.status == PENDING))).first()
    if pending is not None:
        raise _conflict("an extension request is already pending for this recommendation")
    req = ExtensionRequest(id=new_id(), recommendation_id=rec.id, proposed_due_date=data.proposed_due_date,
                           previous_due_date=rec.due_date, reason=data.reason, status=PENDING,
                           requested_by_kind=actor.kind, requested_by=actor.subject, requested_by_name=actor.name,
                           requested_at=now)
    session.add(req)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # a concurrent request won the one-pending index
        raise _conflict("an extension request is already pending for this recommendation") from None
    await history.append(session, recommendation_id=rec.id, actor=actor, at=now, action="extension_requested",
                         reason=data.reason, details={"request_id": req.id,
                                                      "proposed_due_date": data.proposed_due_date.isoformat()})
    body = await session.get(Body, rec.body_id)
    await record(session, outbox, RECOMMENDATION_EXTENSION_REQUESTED, rec, ExtensionRequestedV1(
        recommendation=snapshot(rec, body.name if body else None), request_id=req.id,
        proposed_due_date=data.proposed_due_date, reason=data.reason, actor=actor_v1(actor)))
    return req


async def decide_extension(session: AsyncSession, *, outbox: Outbox, recommendation_id: str, request_id: str,
                           data: ExtensionDecisionIn, actor: Principal, now: datetime) -> ExtensionRequest:
    """Staff grant (moving the due date) or refuse a pending request, with a reason."""
    rec = await load_visible(session, recommendation_id, actor)
    require_acting_staff(actor)
    req = await session.get(ExtensionRequest, request_id)
    if req is None or req.recommendation_id != rec.id:
        raise not_found("extension request")
    status = GRANTED if data.granted else REFUSED
    if data.granted and State(rec.state) not in OPEN_STATES:
        raise _conflict(f"the recommendation is {rec.state}; its due date no longer moves")
    decided = await session.execute(
        update(ExtensionRequest).where(ExtensionRequest.id == req.id, ExtensionRequest.status == PENDING)
        .values(status=status, decided_by=actor.subject, decided_by_name=actor.name, decided_at=now,
                decision_reason=data.reason).execution_options(synchronize_session=False))
    if decided.rowcount != 1:  # type: ignore[attr-defined]
        raise _conflict("this extension request has already been decided")
    await session.refresh(req)
    previous = rec.due_date
    if data.granted:
        rec.due_date = req.proposed_due_date
        rec.escalation_level = "none"  # a new due date starts the ladder again; the scheduler re-levels it
        rec.updated_at = now
        try:
            await session.flush()
        except StaleDataError:
            raise _conflict("the recommendation changed meanwhile; try again") from None
    await history.append(session, recommendation_id=rec.id, actor=actor, at=now,
                         action="extension_granted" if data.granted else "extension_refused", reason=data.reason,
                         details={"request_id": req.id, "proposed_due_date": req.proposed_due_date.isoformat()})
    body = await session.get(Body, rec.body_id)
    snap = snapshot(rec, body.name if body else None)
    await record(session, outbox, RECOMMENDATION_EXTENSION_DECIDED, rec, ExtensionDecidedV1(
        recommendation=snap, request_id=req.id, granted=data.granted, reason=data.reason,
        proposed_due_date=req.proposed_due_date, actor=actor_v1(actor)))
    if data.granted:
        change = {"request_id": req.id, "previous_due_date": previous.isoformat() if previous else None,
                  "due_date": rec.due_date.isoformat() if rec.due_date else None}
        await history.append(session, recommendation_id=rec.id, actor=actor, at=now, action="due_date_changed",
                             reason=data.reason, details=change)
        await record(session, outbox, RECOMMENDATION_DUE_DATE_CHANGED, rec, DueDateChangedV1(
            recommendation=snap, previous_due_date=previous, due_date=rec.due_date, reason=data.reason,
            actor=actor_v1(actor)))
    return req


async def list_requests(session: AsyncSession, *, recommendation_id: str,
                        principal: Principal) -> list[ExtensionRequest]:
    """Every extension request of a recommendation, oldest first."""
    rec = await load_visible(session, recommendation_id, principal)
    query = select(ExtensionRequest).where(ExtensionRequest.recommendation_id == rec.id).order_by(
        ExtensionRequest.requested_at, ExtensionRequest.id)
    return list((await session.execute(query)).scalars())
