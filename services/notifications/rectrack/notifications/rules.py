"""Who hears what: the rule table from event triggers to audiences, with sensible defaults.

A trigger names what happened: `issued`; a lifecycle action `submit`, `return`, `approve`;
`extension_requested`, `extension_decided`; or `escalation.<level>` for each level of the ladder.
An audience names who hears of it: the body's contacts by role (`liaison`, `chief_officer`,
`local_policing_body`: each gets an e-mail, and the body's in-app inbox gets one notice), the owning
inspector (`owner`: their inbox, plus e-mail when their address is known), inspectorate `leadership`
(the configured addresses and the leadership inbox), and the body's `webhook` (its registered URL).
"""

from __future__ import annotations

from typing import Literal, get_args

from rectrack.common.events import subjects
from rectrack.common.events.envelope import Envelope

Trigger = Literal[
    "issued", "submit", "return", "approve", "extension_requested", "extension_decided",
    "escalation.due_soon", "escalation.overdue", "escalation.escalated", "escalation.engage",
]
Audience = Literal["liaison", "chief_officer", "local_policing_body", "owner", "leadership", "webhook"]
RuleTable = dict[Trigger, list[Audience]]

TRIGGERS: tuple[str, ...] = get_args(Trigger)
BODY_ROLES: tuple[Audience, ...] = ("liaison", "chief_officer", "local_policing_body")

DEFAULT_RULES: RuleTable = {
    "issued": ["liaison", "webhook"],
    "submit": ["owner", "webhook"],
    "return": ["liaison", "webhook"],
    "approve": ["liaison", "webhook"],
    "extension_requested": ["owner", "webhook"],
    "extension_decided": ["liaison", "webhook"],
    "escalation.due_soon": ["liaison", "webhook"],
    "escalation.overdue": ["liaison", "webhook"],
    "escalation.escalated": ["liaison", "chief_officer", "local_policing_body", "webhook"],
    "escalation.engage": ["liaison", "chief_officer", "local_policing_body", "leadership", "webhook"],
}

# The template (render kind) each trigger is told with.
KIND_BY_TRIGGER: dict[str, str] = {
    "issued": "recommendation_issued",
    "submit": "recommendation_submitted",
    "return": "recommendation_returned",
    "approve": "recommendation_approved",
    "extension_requested": "extension_requested",
    "extension_decided": "extension_decided",
    **{f"escalation.{level}": "escalation" for level in ("due_soon", "overdue", "escalated", "engage")},
}


def merge_rules(overrides: RuleTable) -> RuleTable:
    """The default table with the given triggers' audiences replaced."""
    unknown = set(overrides) - set(TRIGGERS)
    if unknown:
        raise ValueError(f"unknown notification triggers {sorted(unknown)}; known: {list(TRIGGERS)}")
    return {**DEFAULT_RULES, **overrides}


def trigger_of(envelope: Envelope) -> str | None:
    """The trigger an event is, or None when no rule can apply to it (e.g. progress, withdraw)."""
    if envelope.type == subjects.RECOMMENDATION_ISSUED:
        return "issued"
    if envelope.type == subjects.RECOMMENDATION_TRANSITIONED:
        action = envelope.data.get("action")
        return action if action in ("submit", "return", "approve") else None
    if envelope.type == subjects.RECOMMENDATION_EXTENSION_REQUESTED:
        return "extension_requested"
    if envelope.type == subjects.RECOMMENDATION_EXTENSION_DECIDED:
        return "extension_decided"
    if envelope.type == subjects.RECOMMENDATION_ESCALATED:
        trigger = f"escalation.{envelope.data.get('level')}"
        return trigger if trigger in KIND_BY_TRIGGER else None  # back to `none` is not news
    return None


def audiences_for(table: RuleTable, trigger: str) -> list[Audience]:
    """Who hears of this trigger, by the table."""
    return list(table.get(trigger, []))  # type: ignore[call-overload]
