"""Who may see and do what: principal to lifecycle actor, scoping conditions, version preconditions."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.auth import Principal
from rectrack.common.errors import Problem, not_found
from rectrack.recommendations.lifecycle import Action, Actor, State, allowed_actions
from rectrack.recommendations.models import Recommendation


def lifecycle_actor(principal: Principal) -> tuple[Actor, str | None]:
    """The lifecycle actor and role a principal acts as (an internal service acts as an administrator)."""
    if principal.kind == "body":
        return Actor.BODY, None
    if principal.kind == "service":
        return Actor.STAFF, "admin"
    return Actor.STAFF, principal.role


def require_acting_staff(principal: Principal) -> None:
    """Only inspectors and administrators (and internal services) change things; 403 otherwise."""
    if not principal.can_act_as_staff:
        raise Problem(403, "forbidden", "Forbidden", "only inspectors and administrators may do this")


def visibility(principal: Principal) -> list[Any]:
    """WHERE conditions limiting recommendations to what the principal may see.

    A body sees only its own recommendations, and only once issued: a draft is the inspectorate's work.
    """
    if principal.is_staff:
        return []
    return [Recommendation.body_id == (principal.body_id or ""), Recommendation.issued_at.is_not(None)]


async def load_visible(session: AsyncSession, recommendation_id: str, principal: Principal) -> Recommendation:
    """The recommendation if this principal may see it; 404 for absent and not-yours alike."""
    query = select(Recommendation).where(Recommendation.id == recommendation_id, *visibility(principal))
    rec = (await session.execute(query)).scalar_one_or_none()
    if rec is None:
        raise not_found("recommendation")
    return rec


def allowed_for(rec: Recommendation, principal: Principal) -> list[str]:
    """The actions this caller can take now, with the progress-since-return guard applied to submit."""
    actor, role = lifecycle_actor(principal)
    actions = allowed_actions(State(rec.state), actor=actor, role=role)
    if rec.progress_since_return <= 0:
        actions = [a for a in actions if a is not Action.SUBMIT]
    return [a.value for a in actions]


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match header names ("3", "\"3\"" or W/"3"); 400 for anything else."""
    if value is None or not value.strip():
        return None
    raw = value.strip()
    if raw == "*":
        return None
    raw = raw.removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise Problem(400, "bad-if-match", "Malformed If-Match", "If-Match must name a version, e.g. \"3\"")
    return int(raw)


def check_version(rec: Recommendation, expected: int | None) -> None:
    """412 when the caller's version is not the current one."""
    if expected is not None and expected != rec.version:
        raise stale(rec.version)


def stale(current: int | None = None) -> Problem:
    """The answer for a write based on an old version."""
    extra: dict[str, Any] = {} if current is None else {"current_version": current}
    return Problem(412, "precondition-failed", "Precondition failed",
                   "the recommendation has changed since that version; fetch it again", **extra)
