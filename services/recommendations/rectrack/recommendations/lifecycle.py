"""The lifecycle of one body's recommendation, as an explicit table (DESIGN.md section 2); pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    """Where one body's recommendation stands."""

    DRAFT = "draft"
    ISSUED = "issued"
    IN_PROGRESS = "in_progress"
    AWAITING_REVIEW = "awaiting_review"
    COMPLETE = "complete"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


OPEN_STATES: frozenset[State] = frozenset({State.ISSUED, State.IN_PROGRESS, State.AWAITING_REVIEW})
CLOSED_STATES: frozenset[State] = frozenset({State.COMPLETE, State.SUPERSEDED, State.WITHDRAWN})


class Action(StrEnum):
    """What a caller can do to move a recommendation."""

    ISSUE = "issue"
    START = "start"
    SUBMIT = "submit"
    APPROVE = "approve"
    RETURN_ = "return"
    SUPERSEDE = "supersede"
    WITHDRAW = "withdraw"
    REOPEN = "reopen"


class Actor(StrEnum):
    """The kind of principal acting."""

    STAFF = "staff"
    BODY = "body"


# Viewers are staff but read-only; any role not named here (including None) may not act as staff.
ACTING_STAFF_ROLES: frozenset[str] = frozenset({"inspector", "admin"})


class Need(StrEnum):
    """An input a transition requires besides the caller and the state."""

    REASON = "reason"
    ASSESSMENT = "assessment"
    SUPERSEDED_BY = "superseded_by"
    PROGRESS_SINCE_RETURN = "progress_since_return"


class RefusalReason(StrEnum):
    """Why a transition was refused; stable codes for problem+json bodies."""

    NOT_ALLOWED_FROM_STATE = "not_allowed_from_state"
    FORBIDDEN_FOR_ROLE = "forbidden_for_role"
    MISSING_REASON = "missing_reason"
    MISSING_ASSESSMENT = "missing_assessment"
    MISSING_SUPERSEDED_BY = "missing_superseded_by"
    NO_PROGRESS_SINCE_RETURN = "no_progress_since_return"


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of the lifecycle table."""

    action: Action
    sources: frozenset[State]
    target: State
    actor: Actor
    needs: tuple[Need, ...] = ()


def _row(action: Action, sources: set[State], target: State, actor: Actor, *needs: Need) -> Transition:
    return Transition(action, frozenset(sources), target, actor, needs)


_OPEN = set(OPEN_STATES)

# The order of this table is the order allowed_actions reports, so API answers are stable.
TRANSITIONS: tuple[Transition, ...] = (
    _row(Action.ISSUE, {State.DRAFT}, State.ISSUED, Actor.STAFF),
    _row(Action.START, {State.ISSUED}, State.IN_PROGRESS, Actor.BODY),
    _row(
        Action.SUBMIT,
        {State.IN_PROGRESS},
        State.AWAITING_REVIEW,
        Actor.BODY,
        Need.PROGRESS_SINCE_RETURN,
    ),
    _row(
        Action.APPROVE,
        {State.AWAITING_REVIEW},
        State.COMPLETE,
        Actor.STAFF,
        Need.ASSESSMENT,
    ),
    _row(
        Action.RETURN_,
        {State.AWAITING_REVIEW},
        State.IN_PROGRESS,
        Actor.STAFF,
        Need.REASON,
    ),
    _row(Action.SUPERSEDE, _OPEN, State.SUPERSEDED, Actor.STAFF, Need.SUPERSEDED_BY),
    _row(
        Action.WITHDRAW,
        {State.DRAFT, *_OPEN},
        State.WITHDRAWN,
        Actor.STAFF,
        Need.REASON,
    ),
    _row(Action.REOPEN, {State.COMPLETE}, State.IN_PROGRESS, Actor.STAFF, Need.REASON),
)

_BY_ACTION: dict[Action, Transition] = {t.action: t for t in TRANSITIONS}
if len(_BY_ACTION) != len(TRANSITIONS):  # one row per action keeps decide() unambiguous
    raise RuntimeError("lifecycle table has two rows for one action")

_MISSING: dict[Need, RefusalReason] = {
    Need.REASON: RefusalReason.MISSING_REASON,
    Need.ASSESSMENT: RefusalReason.MISSING_ASSESSMENT,
    Need.SUPERSEDED_BY: RefusalReason.MISSING_SUPERSEDED_BY,
    Need.PROGRESS_SINCE_RETURN: RefusalReason.NO_PROGRESS_SINCE_RETURN,
}


class TransitionRefused(Exception):
    """An action that may not be taken; carries a stable code and the caller's allowed actions."""

    def __init__(self, reason_code: str, message: str, allowed: list[Action]) -> None:
        super().__init__(message)
        self.reason_code = RefusalReason(reason_code)
        self.message = message
        self.allowed = list(allowed)


def transition_for(action: Action | str) -> Transition:
    """The table row for an action."""
    return _BY_ACTION[Action(action)]


def may_act_as(actor: Actor | str, role: str | None, required: Actor) -> bool:
    """Whether a principal of this kind and role may perform actions reserved for `required`."""
    actor = Actor(actor)
    if actor is not required:
        return False
    # A body principal has no staff role; its scoping to its own body is the caller's check.
    return actor is Actor.BODY or role in ACTING_STAFF_ROLES


def allowed_actions(state: State | str, *, actor: Actor | str, role: str | None) -> list[Action]:
    """The actions this caller may take from this state, in table order (guards not considered)."""
    state = State(state)
    return [t.action for t in TRANSITIONS if state in t.sources and may_act_as(actor, role, t.actor)]


def _present(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, str):
        return bool(value.strip())
    return True


def decide(
    state: State | str,
    action: Action | str,
    *,
    actor: Actor | str,
    role: str | None,
    reason: str | None = None,
    assessment: str | None = None,
    superseded_by: object | None = None,
    has_progress_since_return: bool = True,
) -> State:
    """The state `action` leads to from `state`, or TransitionRefused saying why not."""
    state, action, actor = State(state), Action(action), Actor(actor)
    row = _BY_ACTION[action]
    allowed = allowed_actions(state, actor=actor, role=role)
    # Who may act is checked before where from, so a caller who can never take an action
    # hears "forbidden" (403) rather than a state conflict (409) that would invite a retry.
    if not may_act_as(actor, role, row.actor):
        who = f"{actor.value}:{role}" if actor is Actor.STAFF else actor.value
        raise TransitionRefused(
            RefusalReason.FORBIDDEN_FOR_ROLE,
            f"{who} may not {action.value} a recommendation",
            allowed,
        )
    if state not in row.sources:
        raise TransitionRefused(
            RefusalReason.NOT_ALLOWED_FROM_STATE,
            f"cannot {action.value} a recommendation that is {state.value}",
            allowed,
        )
    inputs: dict[Need, bool] = {
        Need.REASON: _present(reason),
        Need.ASSESSMENT: _present(assessment),
        Need.SUPERSEDED_BY: _present(superseded_by),
        Need.PROGRESS_SINCE_RETURN: has_progress_since_return,
    }
    for need in row.needs:
        if not inputs[need]:
            code = _MISSING[need]
            message = (
                "submit needs at least one progress update since the last return"
                if need is Need.PROGRESS_SINCE_RETURN
                else f"{action.value} needs {need.value}"
            )
            raise TransitionRefused(code, message, allowed)
    return row.target


def is_open(state: State | str) -> bool:
    """Whether the state is open (issued, in progress or awaiting review)."""
    return State(state) in OPEN_STATES


def is_closed(state: State | str) -> bool:
    """Whether the state is closed (complete, superseded or withdrawn)."""
    return State(state) in CLOSED_STATES
