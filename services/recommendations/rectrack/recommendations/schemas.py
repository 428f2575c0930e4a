"""API input models (pydantic): bounded strings, enums as Literals."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

ReportKind = Literal["peel", "fire_and_rescue", "thematic", "joint", "national_body", "other"]
ReportLevel = Literal["local", "regional", "national"]
RecommendationKind = Literal["recommendation", "cause_of_concern", "area_for_improvement"]
Priority = Literal["low", "medium", "high"]
Rag = Literal["red", "amber", "green"]
ActionName = Literal["issue", "start", "submit", "approve", "return", "supersede", "withdraw", "reopen"]

NARRATIVE_MAX = 20_000
LONG_TEXT = 20_000

Theme = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=80,
                                         pattern=r"^[a-z0-9][a-z0-9 _\-/&]*$")]
BodyId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=LONG_TEXT)]


class Strict(BaseModel):
    """Unknown fields are refused, so a misspelt field never passes silently."""

    model_config = ConfigDict(extra="forbid")


class ReportIn(Strict):
    """POST /reports."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    kind: ReportKind
    level: ReportLevel
    published_on: date | None = None
    url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://\S+$")] | None = None


class RecommendationFields(Strict):
    """What one recommendation says, whoever it is addressed to."""

    kind: RecommendationKind = "recommendation"
    reference: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=LONG_TEXT)]
    themes: list[Theme] = Field(default_factory=list, max_length=30)
    priority: Priority = "medium"
    benefits: Annotated[str, StringConstraints(max_length=LONG_TEXT)] | None = None
    risks: Annotated[str, StringConstraints(max_length=LONG_TEXT)] | None = None
    closure_criteria: Annotated[str, StringConstraints(max_length=LONG_TEXT)] | None = None
    due_date: date | None = None
    owner: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    recipient_body_ids: list[BodyId] = Field(min_length=1, max_length=500)
    issue: bool = False

    @field_validator("themes")
    @classmethod
    def _unique_themes(cls, themes: list[str]) -> list[str]:
        return list(dict.fromkeys(themes))

    @field_validator("recipient_body_ids")
    @classmethod
    def _unique_recipients(cls, ids: list[str]) -> list[str]:
        return list(dict.fromkeys(ids))


class RecommendationIn(RecommendationFields):
    """POST /recommendations: one recommendation of a report, tracked once per recipient body."""

    report_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class TransitionIn(Strict):
    """POST /recommendations/{id}/transitions."""

    action: ActionName
    reason: Annotated[str, StringConstraints(max_length=LONG_TEXT)] | None = None
    assessment: Annotated[str, StringConstraints(max_length=LONG_TEXT)] | None = None
    superseded_by: Annotated[str, StringConstraints(max_length=64)] | None = None
    version: int | None = Field(default=None, ge=1)


class ProgressIn(Strict):
    """POST /recommendations/{id}/progress as JSON (no files)."""

    narrative: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NARRATIVE_MAX)]
    rag: Rag | None = None


class ExtensionRequestIn(Strict):
    """POST /recommendations/{id}/extension-requests."""

    proposed_due_date: date
    reason: Reason


class ExtensionDecisionIn(Strict):
    """POST /recommendations/{id}/extension-requests/{request_id}/decision."""

    granted: bool
    reason: Reason
