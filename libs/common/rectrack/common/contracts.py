"""Versioned event payloads shared between services (the only model code services share)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

BodyKind = Literal["police_force", "fire_and_rescue_service", "national_body", "local_policing_body", "other"]
BodyStatus = Literal["active", "merged", "abolished"]
ContactRole = Literal["liaison", "chief_officer", "local_policing_body"]
RecommendationState = Literal["draft", "issued", "in_progress", "awaiting_review", "complete", "superseded",
                              "withdrawn"]
EscalationLevel = Literal["none", "due_soon", "overdue", "escalated", "engage"]
ESCALATION_LEVELS: tuple[EscalationLevel, ...] = ("none", "due_soon", "overdue", "escalated", "engage")


class Contract(BaseModel):
    """Event payloads ignore fields they do not know, so producers can add fields without a new version."""

    model_config = ConfigDict(extra="ignore")


class ContactV1(Contract):
    """A person at a body who hears about its recommendations."""

    name: str
    email: str
    role: ContactRole


class BodyV1(Contract):
    """body.created / body.updated / body.deactivated: the whole body as it now stands."""

    id: str
    code: str
    name: str
    kind: BodyKind
    region: str | None = None
    status: BodyStatus
    version: int
    contacts: list[ContactV1] = []
    webhook_url: str | None = None
    webhook_secret: str | None = None  # internal bus only: notifications signs webhooks with it


class ActorV1(Contract):
    """Who did it."""

    kind: Literal["staff", "body", "service", "system"]
    subject: str
    name: str | None = None


class RecommendationSnapshotV1(Contract):
    """One body's recommendation as it stands after the change."""

    id: str
    group_id: str
    report_id: str
    reference: str
    title: str
    kind: str
    body_id: str
    body_name: str | None = None
    state: RecommendationState
    version: int
    due_date: date | None = None
    escalation_level: EscalationLevel = "none"
    owner: str | None = None
    priority: str | None = None
    themes: list[str] = []


class RecommendationIssuedV1(Contract):
    """recommendation.created (draft) and recommendation.issued."""

    recommendation: RecommendationSnapshotV1
    actor: ActorV1


class RecommendationTransitionedV1(Contract):
    """recommendation.transitioned: any lifecycle action."""

    recommendation: RecommendationSnapshotV1
    action: str
    from_state: RecommendationState
    to_state: RecommendationState
    reason: str | None = None
    actor: ActorV1


class ProgressAddedV1(Contract):
    """recommendation.progress_added."""

    recommendation: RecommendationSnapshotV1
    progress_id: str
    rag: Literal["red", "amber", "green"] | None = None
    evidence_count: int = 0
    actor: ActorV1


class ExtensionRequestedV1(Contract):
    """recommendation.extension_requested."""

    recommendation: RecommendationSnapshotV1
    request_id: str
    proposed_due_date: date
    reason: str
    actor: ActorV1


class ExtensionDecidedV1(Contract):
    """recommendation.extension_decided."""

    recommendation: RecommendationSnapshotV1
    request_id: str
    granted: bool
    reason: str | None = None
    proposed_due_date: date
    actor: ActorV1


class DueDateChangedV1(Contract):
    """recommendation.due_date_changed."""

    recommendation: RecommendationSnapshotV1
    previous_due_date: date | None = None
    due_date: date | None = None
    reason: str
    actor: ActorV1


class EscalatedV1(Contract):
    """recommendation.escalated: one event per change of level, naming any levels passed over."""

    recommendation: RecommendationSnapshotV1
    level: EscalationLevel
    previous_level: EscalationLevel
    skipped_levels: list[EscalationLevel] = []
    due_date: date
    as_of: datetime


class NotificationOutcomeV1(Contract):
    """notification.delivered / notification.failed."""

    delivery_id: str
    event_id: str
    event_type: str
    channel: Literal["email", "webhook", "inbox"]
    recipient: str
    body_id: str | None = None
    attempts: int
    error: str | None = None
