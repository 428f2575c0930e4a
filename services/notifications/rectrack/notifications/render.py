"""Render a notification kind and its context into a Message (subject, text, HTML, JSON data)."""

import datetime as dt
import re
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from rectrack.notifications.channels.base import Message

TEMPLATES_DIR = Path(__file__).parent / "templates"

ESCALATION_LEVELS = ("due_soon", "overdue", "escalated", "engage")
EXTENSION_DECISIONS = ("approved", "refused")

# Fields each kind cannot do without; every other known field may be left out.
REQUIRED_FIELDS: dict[str, frozenset[str]] = {
    kind: frozenset({"reference", "title", "body_name", "link"} | extra)
    for kind, extra in {
        "recommendation_issued": {"due_date"},
        "recommendation_submitted": set(),
        "recommendation_returned": {"reason"},
        "recommendation_approved": set(),
        "extension_requested": {"due_date", "reason"},
        "extension_decided": {"due_date", "decision"},
        "escalation": {"due_date", "level"},
    }.items()
}
KINDS = frozenset(REQUIRED_FIELDS)

OPTIONAL_FIELDS = frozenset(
    {
        "state",
        "previous_level",
        "reason",
        "recommendation_id",
        "actor_name",
        "due_date",
        "level",
        "decision",  # extension_decided: "approved" | "refused"
        "proposed_date",  # extension_requested: the date the body asked for
        "days_overdue",  # escalation: exact count, when the scheduler knows it
        "escalated_after_days",  # escalation ladder thresholds, when configured differently
        "engage_after_days",
    }
)

_DEFAULT_ESCALATED_AFTER_DAYS = 30
_DEFAULT_ENGAGE_AFTER_DAYS = 90

_SUBJECTS = {
    "recommendation_issued": "New recommendation for {{ body_name }}: {{ reference }}",
    "recommendation_submitted": "{{ reference }} submitted for review by {{ body_name }}",
    "recommendation_returned": "{{ reference }} returned: further evidence needed",
    "recommendation_approved": "{{ reference }} approved as complete",
    "extension_requested": "{{ body_name }} asks for an extension to {{ reference }}",
    "extension_decided": "Extension {{ decision }} for {{ reference }}",
    "escalation": (
        "{% if level == 'due_soon' %}Reminder: {{ reference }} is due by {{ due_date | uk_date }}"
        "{% elif level == 'overdue' %}Overdue: {{ reference }} was due by {{ due_date | uk_date }}"
        "{% elif level == 'escalated' %}Escalation: {{ reference }} is {{ days_overdue_text }} days"
        " overdue"
        "{% else %}Leadership attention: {{ reference }} is {{ days_overdue_text }} days overdue"
        "{% endif %}"
    ),
}

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def uk_date(value: dt.date | str) -> str:
    """Format a date (or ISO date string) the British way: 7 March 2025."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    if isinstance(value, dt.datetime):
        value = value.date()
    # Month names spelt out here so the server's locale can't change the wording.
    return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"


def _refuse_none(value: Any) -> Any:
    # A required field passed as None would otherwise print "None" to a chief officer.
    if value is None:
        raise ValueError("a notification template printed None: a required field is missing")
    return value


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined,
        finalize=_refuse_none,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["uk_date"] = uk_date
    return env


_ENV = _environment()
# Compiled once: compiling a subject on every render cost more than rendering the whole message.
_SUBJECT_TEMPLATES = {kind: _ENV.from_string(source) for kind, source in _SUBJECTS.items()}
_BLANK_LINES = re.compile(r"\n{3,}")


def render(kind: str, context: Mapping[str, Any]) -> Message:
    """Render notification ``kind`` with ``context`` into a Message; missing fields raise."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}; expected one of {sorted(KINDS)}")
    missing = REQUIRED_FIELDS[kind] - {key for key, value in context.items() if value is not None}
    if missing:
        raise ValueError(f"{kind} notification needs {', '.join(sorted(missing))}")
    values = _template_values(kind, context)
    subject = " ".join(_SUBJECT_TEMPLATES[kind].render(values).split())
    values["subject"] = subject
    text = _BLANK_LINES.sub("\n\n", _ENV.get_template(f"{kind}.txt.j2").render(values)).strip()
    html = _ENV.get_template(f"{kind}.html.j2").render(values)
    return Message(subject=subject, text=text + "\n", html=html, data=_json_data(kind, context))


def _template_values(kind: str, context: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {field: None for field in OPTIONAL_FIELDS}
    values.update(context)
    if kind == "escalation":
        if values["level"] not in ESCALATION_LEVELS:
            raise ValueError(f"escalation level must be one of {ESCALATION_LEVELS}")
        escalated_after = values["escalated_after_days"] or _DEFAULT_ESCALATED_AFTER_DAYS
        engage_after = values["engage_after_days"] or _DEFAULT_ENGAGE_AFTER_DAYS
        values["escalated_after_days"] = escalated_after
        threshold = engage_after if values["level"] == "engage" else escalated_after
        days = values["days_overdue"]
        values["days_overdue_text"] = str(days) if days else f"at least {threshold}"
    if kind == "extension_decided" and values["decision"] not in EXTENSION_DECISIONS:
        raise ValueError(f"extension decision must be one of {EXTENSION_DECISIONS}")
    return values


def _json_data(kind: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Return the webhook payload: the kind plus the context, made JSON-safe."""
    return {"kind": kind, **{key: _json_safe(value) for key, value in context.items()}}


def _json_safe(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value
