"""Lifecycle actions on one body's recommendation: the table in lifecycle.py, version-checked writes."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from rectrack.common.auth import Principal
from rectrack.common.contracts import RecommendationIssuedV1, RecommendationTransitionedV1
from rectrack.common.errors import Problem
from rectrack.common.events.outbox import Outbox
from rectrack.common.events.subjects import RECOMMENDATION_ISSUED, RECOMMENDATION_TRANSITIONED
from rectrack.recommendations import history
from rectrack.recommendations.access import allowed_for, check_version, lifecycle_actor, load_visible, stale
from rectrack.recommendations.events import actor_v1, record, snapshot
from rectrack.recommendations.lifecycle import CLOSED_STATES, Action, RefusalReason, TransitionRefused, decide
from rectrack.recommendations.models import Body, Recommendation
from rectrack.recommendations.schemas import TransitionIn

_STATUS_BY_REFUSAL = {
    RefusalReason.FORBIDDEN_FOR_ROLE: (403, "action-forbidden", "Action not permitted"),
    RefusalReason.NOT_ALLOWED_FROM_STATE: (409, "transition-refused", "Action not allowed in this state"),
    RefusalReason.NO_PROGRESS_SINCE_RETURN: (409, "transition-refused", "Action not allowed yet"),
    RefusalReason.MISSING_REASON: (422, "transition-input-missing", "Action needs a reason"),
    RefusalReason.MISSING_ASSESSMENT: (422, "transition-input-missing", "Action needs an assessment"),
    RefusalReason.MISSING_SUPERSEDED_BY: (422, "transition-input-missing", "Action needs the superseding one"),
}


def refusal_problem(exc: TransitionRefused, rec: Recommendation, principal: Principal, action: str) -> Problem:
    """A refused action as problem+json naming what the caller may do instead."""
    status, slug, title = _STATUS_BY_REFUSAL[exc.reason_code]
    return Problem(status, slug, title, exc.message, reason_code=exc.reason_code.value, action=action,
                   state=rec.state, allowed_actions=allowed_for(rec, principal))


async def _check_superseding(session: AsyncSession, rec: Recommendation, superseded_by: str | None) -> None:
    if not superseded_by:
        return
    other = (await session.execute(select(Recommendation.body_id).where(Recommendation.id == superseded_by))).first()
    if other is None or superseded_by == rec.id or other.body_id != rec.body_id:
        raise Problem(422, "invalid-superseded-by", "Invalid superseding recommendation",
                      "superseded_by must name another recommendation addressed to the same body",
                      errors=[{"field": "superseded_by", "message": "no such recommendation for this body"}])


async def apply_action(session: AsyncSession, *, outbox: Outbox, recommendation_id: str, data: TransitionIn,
                       expected_version: int | None, actor: Principal, now: datetime) -> Recommendation:
    """Take one lifecycle action; 409/403/422 when the table refuses it, 412 on a stale version."""
    rec = await load_visible(session, recommendation_id, actor)
    check_version(rec, expected_version)
    kind, role = lifecycle_actor(actor)
    action = Action(data.action)
    try:
        target = decide(rec.state, action, actor=kind, role=role, reason=data.reason, assessment=data.assessment,
                        superseded_by=data.superseded_by, has_progress_since_return=rec.progress_since_return > 0)
    except TransitionRefused as exc:
        raise refusal_problem(exc, rec, actor, action.value) from None
    if action is Action.SUPERSEDE:
        await _check_superseding(session, rec, data.superseded_by)
    from_state = rec.state
    rec.state = target.value
    rec.updated_at = now
    if action is Action.ISSUE:
        rec.issued_at = now
    elif action is Action.APPROVE:
        rec.completed_at, rec.assessment = now, data.assessment
    elif action in (Action.RETURN_, Action.REOPEN):
        # The body must show new progress before it may submit again.
        rec.last_returned_at, rec.progress_since_return, rec.completed_at = now, 0, None
    elif action is Action.SUPERSEDE:
        rec.superseded_by = data.superseded_by
    if target in CLOSED_STATES:
        rec.escalation_level = "none"  # closing ends the escalation ladder
    try:
        await session.flush()
    except StaleDataError:
        # Someone else changed it between our read and our write: never both win.
        raise (stale() if expected_version is not None else Problem(
            409, "concurrent-update", "Concurrent update", "the recommendation changed meanwhile; try again")) from None
    reason = data.assessment if action is Action.APPROVE else data.reason
    details = {"superseded_by": data.superseded_by} if action is Action.SUPERSEDE else None
    await history.append(session, recommendation_id=rec.id, actor=actor, at=now, action=action.value,
                         from_state=from_state, to_state=rec.state, reason=reason, details=details)
    body = await session.get(Body, rec.body_id)
    snap = snapshot(rec, body.name if body else None)
    await record(session, outbox, RECOMMENDATION_TRANSITIONED, rec, RecommendationTransitionedV1(
        recommendation=snap, action=action.value, from_state=from_state, to_state=rec.state,  # type: ignore[arg-type]
        reason=reason, actor=actor_v1(actor)))
    if action is Action.ISSUE:
        await record(session, outbox, RECOMMENDATION_ISSUED, rec,
                     RecommendationIssuedV1(recommendation=snap, actor=actor_v1(actor)))
    return rec
