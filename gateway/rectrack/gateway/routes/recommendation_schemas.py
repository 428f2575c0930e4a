"""The public shapes of the recommendations routes, for the gateway's OpenAPI only.

The recommendations service validates every request itself; these documentation-only copies of its models (same
limits, unknown fields refused) let the gateway's OpenAPI describe requests and answers accurately, with examples.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from rectrack.gateway.openapi import query

# What an evidence file can be (the service judges each upload by its content and refuses anything else).
EVIDENCE_MEDIA_TYPES = (
    "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff", "text/csv", "text/plain",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet")

# --- documented shapes: the service validates the same (the gateway passes bodies through unparsed) --------------

ReportKind = Literal["peel", "fire_and_rescue", "thematic", "joint", "national_body", "other"]
ReportLevel = Literal["local", "regional", "national"]
Kind = Literal["recommendation", "cause_of_concern", "area_for_improvement"]
Priority = Literal["low", "medium", "high"]
Rag = Literal["red", "amber", "green"]
Action = Literal["issue", "start", "submit", "approve", "return", "supersede", "withdraw", "reopen"]
State = Literal["draft", "issued", "in_progress", "awaiting_review", "complete", "superseded", "withdrawn"]
Level = Literal["none", "due_soon", "overdue", "escalated", "engage"]
Long = Annotated[str, Field(max_length=20_000)]
Theme = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9 _\-/&]*$")]


# Required texts: not blank (the service trims leading and trailing spaces), at most so many characters.
Text120 = Annotated[str, Field(min_length=1, max_length=120, pattern=r"\S")]
Text200 = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
Text500 = Annotated[str, Field(min_length=1, max_length=500, pattern=r"\S")]
LongText = Annotated[str, Field(min_length=1, max_length=20_000, pattern=r"\S")]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")  # the service refuses unknown fields (422)


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")  # answers may gain fields


class ReportIn(_In):
    """A new inspection report."""

    title: Text500
    kind: ReportKind
    level: ReportLevel
    published_on: date | None = None
    url: Annotated[str, Field(max_length=2000, pattern=r"^https?://\S+$")] | None = None


class RecommendationFieldsIn(_In):
    """One recommendation of a report, tracked once per recipient body (an import row)."""

    kind: Kind = "recommendation"
    reference: Text120
    title: Text500
    text: LongText
    themes: list[Theme] = Field(default=[], max_length=30)
    priority: Priority = "medium"
    benefits: Long | None = None
    risks: Long | None = None
    closure_criteria: Long | None = None
    due_date: date | None = None
    owner: Text200 | None = None
    recipient_body_ids: list[Text120] = Field(min_length=1, max_length=500)
    issue: bool = Field(default=False, description="Issue at once (else a draft).")


class RecommendationIn(RecommendationFieldsIn):
    """A new recommendation of a report for one or many bodies."""

    report_id: Annotated[str, Field(min_length=1, max_length=64)]


class TransitionIn(_In):
    """A lifecycle action; `version` instead of If-Match."""

    action: Action
    reason: Long | None = None
    assessment: Long | None = None
    superseded_by: Annotated[str, Field(max_length=64)] | None = None
    version: int | None = Field(default=None, ge=1)


class ProgressIn(_In):
    """A progress update without files."""

    narrative: LongText
    rag: Rag | None = None


class ProgressForm(BaseModel):
    """A progress update with evidence files (multipart/form-data)."""

    narrative: LongText
    rag: Rag | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)
    files: list[bytes] = Field(default=[], description="Evidence files (repeat the part): PDF, images, office "
                                                      "documents, CSV or text, judged by their content.")


class ExtensionRequestIn(_In):
    """A request for a later due date."""

    proposed_due_date: date
    reason: LongText


class ExtensionDecisionIn(_In):
    """Staff's decision on a pending extension request."""

    granted: bool
    reason: LongText


class Actor(_Out):
    """Who did it."""

    kind: str | None = None
    subject: str | None = None
    name: str | None = None


class Report(_Out):
    """An inspection report."""

    id: str
    title: str
    kind: ReportKind
    level: ReportLevel
    published_on: date | None
    url: str | None
    created_at: datetime
    version: int


class ReportPage(_Out):
    """A page of reports, newest first."""

    items: list[Report]
    total: int
    limit: int
    offset: int


class Recommendation(_Out):
    """One body's recommendation as the caller sees it (a detail answer adds `text`, `assessment`, ...)."""

    id: str
    group_id: str
    report_id: str
    body_id: str
    body_name: str | None
    kind: Kind
    reference: str
    title: str
    themes: list[str]
    priority: Priority
    state: State
    version: int
    due_date: date | None
    overdue: bool
    escalation_level: Level
    allowed_actions: list[Action] = Field(description="What the caller may do now.")


class RecommendationPage(_Out):
    """A page of recommendations."""

    items: list[Recommendation]
    total: int
    limit: int
    offset: int


class Created(_Out):
    """The recommendations made: one per recipient body."""

    items: list[Recommendation]
    total: int


class Group(_Out):
    """How many of a group's bodies are in each state, and each body's row."""

    group_id: str
    total: int
    by_state: dict[str, int]
    by_escalation_level: dict[str, int]
    items: list[dict[str, Any]]


class Summary(_Out):
    """Roll-up counts of the filtered set (a body's own only)."""

    as_of: date
    total: int
    by_state: dict[str, int]
    by_escalation_level: dict[str, int]
    overdue: int
    median_days_to_complete: float | None
    by_body: list[dict[str, Any]]
    by_region: list[dict[str, Any]]
    by_theme: list[dict[str, Any]]
    by_report: list[dict[str, Any]]


class HistoryEntry(_Out):
    """One thing that happened."""

    seq: int
    at: datetime
    actor: Actor
    action: str
    from_state: str | None
    to_state: str | None


class Evidence(_Out):
    """An evidence file's metadata; `download_url` fetches it."""

    id: str
    filename: str
    media_type: str
    size: int
    sha256: str
    download_url: str


class ProgressUpdate(_Out):
    """A progress update and its evidence."""

    id: str
    recommendation_id: str
    narrative: str
    rag: Rag | None
    created_at: datetime
    author: Actor
    evidence: list[Evidence]


class ExtensionRequest(_Out):
    """A request for a later due date, and its decision."""

    id: str
    recommendation_id: str
    status: Literal["pending", "granted", "refused"]
    proposed_due_date: date
    previous_due_date: date | None
    reason: str
    requested_by: Actor
    decided_by: Actor | None
    decision_reason: str | None


class HistoryList(_Out):
    items: list[HistoryEntry]
    total: int


class ProgressList(_Out):
    items: list[ProgressUpdate]
    total: int


class ExtensionList(_Out):
    items: list[ExtensionRequest]
    total: int


def _many(name: str, items: dict[str, Any], description: str) -> dict[str, Any]:
    return query(name, {"type": "array", "items": items, "maxItems": 200}, description + " (repeatable)")


def _enum(values: Any) -> dict[str, Any]:
    return {"type": "string", "enum": list(values.__args__)}


SORT = query("sort", {"type": "string", "maxLength": 200}, "Comma-separated keys, `-` for descending: "
             "due_date, updated_at, reference, ... (default `due_date`).")
FILTERS: list[dict[str, Any]] = [
    _many("body_id", {"type": "string"}, "Bodies"), _many("region", {"type": "string"}, "Regions"),
    _many("body_kind", {"type": "string"}, "Kinds of body"), _many("report_id", {"type": "string"}, "Reports"),
    query("group_id", {"type": "string", "maxLength": 64}, "One group (the same recommendation to many bodies)."),
    _many("kind", _enum(Kind), "Kinds"), _many("theme", {"type": "string"}, "Themes"),
    _many("state", _enum(State), "States"), _many("escalation_level", _enum(Level), "Escalation levels"),
    _many("priority", _enum(Priority), "Priorities"),
    query("overdue", {"type": "boolean"}, "Open and past its due date."),
    query("due_before", {"type": "string", "format": "date"}), query("due_after", {"type": "string", "format": "date"}),
    query("q", {"type": "string", "maxLength": 200}, "Text in reference or title."),
]
