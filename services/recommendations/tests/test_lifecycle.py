"""The lifecycle table, checked exhaustively against DESIGN.md and by property."""

from __future__ import annotations

import itertools
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rectrack.recommendations.lifecycle import (
    CLOSED_STATES,
    OPEN_STATES,
    Action,
    Actor,
    State,
    TransitionRefused,
    allowed_actions,
    decide,
    is_closed,
    is_open,
)

# Written out again from DESIGN.md, independently of the module's table: (action, from) -> (to, who).
DESIGN_TABLE: dict[tuple[str, str], tuple[str, str]] = {
    ("issue", "draft"): ("issued", "staff"),
    ("start", "issued"): ("in_progress", "body"),
    ("submit", "in_progress"): ("awaiting_review", "body"),
    ("approve", "awaiting_review"): ("complete", "staff"),
    ("return", "awaiting_review"): ("in_progress", "staff"),
    ("supersede", "issued"): ("superseded", "staff"),
    ("supersede", "in_progress"): ("superseded", "staff"),
    ("supersede", "awaiting_review"): ("superseded", "staff"),
    ("withdraw", "draft"): ("withdrawn", "staff"),
    ("withdraw", "issued"): ("withdrawn", "staff"),
    ("withdraw", "in_progress"): ("withdrawn", "staff"),
    ("withdraw", "awaiting_review"): ("withdrawn", "staff"),
    ("reopen", "complete"): ("in_progress", "staff"),
}
ACTION_ORDER = ["issue", "start", "submit", "approve", "return", "supersede", "withdraw", "reopen"]
WHO = {action: who for (action, _), (_, who) in DESIGN_TABLE.items()}
CALLERS: list[tuple[str, str | None]] = [
    ("staff", "viewer"),
    ("staff", "inspector"),
    ("staff", "admin"),
    ("body", None),
]


def decide_with_every_input(state: State, action: Action, actor: str, role: str | None) -> State:
    """decide() with every guard satisfied, so only the table and the caller can refuse."""
    return decide(
        state,
        action,
        actor=actor,
        role=role,
        reason="re-inspection found regression",
        assessment="evidence shows the new policy is embedded",
        superseded_by="PEEL-2025-WMP-R1",
        has_progress_since_return=True,
    )


def caller_may(action: str, actor: str, role: str | None) -> bool:
    if WHO[action] == "body":
        return actor == "body"
    return actor == "staff" and role in {"inspector", "admin"}


def expected_allowed(state: str, actor: str, role: str | None) -> list[str]:
    return [a for a in ACTION_ORDER if (a, state) in DESIGN_TABLE and caller_may(a, actor, role)]


def test_enums_match_design() -> None:
    assert [s.value for s in State] == [
        "draft",
        "issued",
        "in_progress",
        "awaiting_review",
        "complete",
        "superseded",
        "withdrawn",
    ]
    assert [a.value for a in Action] == ACTION_ORDER
    assert Action.RETURN_.value == "return"
    assert {s.value for s in OPEN_STATES} == {"issued", "in_progress", "awaiting_review"}
    assert {s.value for s in CLOSED_STATES} == {"complete", "superseded", "withdrawn"}
    assert all(is_open(s) for s in OPEN_STATES) and not any(is_closed(s) for s in OPEN_STATES)
    assert all(is_closed(s) for s in CLOSED_STATES) and not any(is_open(s) for s in CLOSED_STATES)
    assert not is_open("draft") and not is_closed("draft")


@pytest.mark.parametrize(("state", "action", "caller"), list(itertools.product(State, Action, CALLERS)))
def test_whole_space_matches_design(state: State, action: Action, caller: tuple[str, str | None]) -> None:
    actor, role = caller
    allowed = expected_allowed(state.value, actor, role)
    assert allowed_actions(state, actor=Actor(actor), role=role) == allowed
    row = DESIGN_TABLE.get((action.value, state.value))
    if row is not None and caller_may(action.value, actor, role):
        assert decide_with_every_input(state, action, actor, role) == State(row[0])
        return
    with pytest.raises(TransitionRefused) as refused:
        decide_with_every_input(state, action, actor, role)
    expected_code = "forbidden_for_role" if not caller_may(action.value, actor, role) else "not_allowed_from_state"
    assert refused.value.reason_code == expected_code
    assert refused.value.allowed == allowed
    assert refused.value.message


def test_viewer_and_unknown_roles_may_do_nothing() -> None:
    for state, role in itertools.product(State, ["viewer", None, "", "superuser", "body"]):
        assert allowed_actions(state, actor=Actor.STAFF, role=role) == []


def test_steps_without_needs_take_no_inputs() -> None:
    assert decide("draft", "issue", actor="staff", role="admin") is State.ISSUED
    assert decide("issued", "start", actor="body", role=None) is State.IN_PROGRESS
    assert decide("in_progress", "submit", actor="body", role=None) is State.AWAITING_REVIEW


MISSING_TEXT = [None, "", "   ", "\n\t "]


@pytest.mark.parametrize("text", MISSING_TEXT)
@pytest.mark.parametrize(
    ("state", "action"),
    [("awaiting_review", "return"), ("issued", "withdraw"), ("draft", "withdraw"), ("complete", "reopen")],
)
def test_reason_is_required(state: str, action: str, text: str | None) -> None:
    with pytest.raises(TransitionRefused) as refused:
        decide(state, action, actor="staff", role="inspector", reason=text)
    assert refused.value.reason_code == "missing_reason"
    assert refused.value.allowed == expected_allowed(state, "staff", "inspector")


@pytest.mark.parametrize("text", MISSING_TEXT)
def test_approve_needs_assessment(text: str | None) -> None:
    with pytest.raises(TransitionRefused) as refused:
        decide("awaiting_review", "approve", actor="staff", role="admin", reason="x", assessment=text)
    assert refused.value.reason_code == "missing_assessment"
    assert refused.value.allowed == ["approve", "return", "supersede", "withdraw"]


@pytest.mark.parametrize("ref", [None, "", "  "])
@pytest.mark.parametrize("state", ["issued", "in_progress", "awaiting_review"])
def test_supersede_needs_the_superseding_recommendation(state: str, ref: str | None) -> None:
    with pytest.raises(TransitionRefused) as refused:
        decide(state, "supersede", actor="staff", role="inspector", reason="x", superseded_by=ref)
    assert refused.value.reason_code == "missing_superseded_by"
    # Any non-text identifier (an id or UUID) counts as present.
    assert decide(state, "supersede", actor="staff", role="inspector", superseded_by=42) is State.SUPERSEDED


def test_submit_needs_progress_since_the_last_return() -> None:
    with pytest.raises(TransitionRefused) as refused:
        decide("in_progress", "submit", actor="body", role=None, has_progress_since_return=False)
    assert refused.value.reason_code == "no_progress_since_return"
    assert refused.value.allowed == ["submit"]


def test_role_is_checked_before_guards_and_state() -> None:
    with pytest.raises(TransitionRefused) as refused:
        decide("awaiting_review", "approve", actor="staff", role="viewer")
    assert refused.value.reason_code == "forbidden_for_role"
    assert refused.value.allowed == []


def reachable_from_draft() -> dict[str, set[tuple[str, str]]]:
    edges: dict[str, set[tuple[str, str]]] = {}
    for (action, source), (target, _) in DESIGN_TABLE.items():
        edges.setdefault(source, set()).add((action, target))
    seen, queue = {"draft"}, deque(["draft"])
    while queue:
        for _, target in edges.get(queue.popleft(), ()):
            if target not in seen:
                seen.add(target)
                queue.append(target)
    return {s: edges.get(s, set()) for s in seen}


GRAPH = reachable_from_draft()


def test_every_state_is_reachable_from_draft() -> None:
    assert set(GRAPH) == {s.value for s in State}


attempts = st.lists(
    st.tuples(st.sampled_from(list(Action)), st.sampled_from(CALLERS), st.booleans()),
    max_size=60,
)


@given(attempts)
def test_any_sequence_of_attempts_stays_on_the_table(
    steps: list[tuple[Action, tuple[str, str | None], bool]],
) -> None:
    state = State.DRAFT
    for action, (actor, role), inputs_given in steps:
        before = state
        try:
            state = decide(
                state,
                action,
                actor=actor,
                role=role,
                reason="because" if inputs_given else " ",
                assessment="done" if inputs_given else None,
                superseded_by="REC-2" if inputs_given else None,
                has_progress_since_return=inputs_given,
            )
        except TransitionRefused as refused:
            assert refused.allowed == allowed_actions(before, actor=Actor(actor), role=role)
            continue
        assert state.value in GRAPH
        assert (action.value, state.value) in GRAPH[before.value]
        if before in CLOSED_STATES:
            assert (before, action) == (State.COMPLETE, Action.REOPEN)
