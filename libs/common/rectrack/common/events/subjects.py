"""Stream and subject names: the one place they are spelled."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StreamSpec:
    """A JetStream stream and the subjects it captures."""

    name: str
    subjects: tuple[str, ...]


BODY_STREAM = StreamSpec("BODY", ("body.>",))
RECOMMENDATION_STREAM = StreamSpec("RECOMMENDATION", ("recommendation.>",))
NOTIFICATION_STREAM = StreamSpec("NOTIFICATION", ("notification.>",))
DEADLETTER_STREAM = StreamSpec("DEADLETTER", ("deadletter.>",))
ALL_STREAMS = (BODY_STREAM, RECOMMENDATION_STREAM, NOTIFICATION_STREAM, DEADLETTER_STREAM)

# JetStream drops a re-published event with the same Nats-Msg-Id inside this window.
DUPLICATE_WINDOW_SECONDS = 15 * 60

BODY_CREATED = "body.created"
BODY_UPDATED = "body.updated"
BODY_DEACTIVATED = "body.deactivated"

RECOMMENDATION_ISSUED = "recommendation.issued"
RECOMMENDATION_CREATED = "recommendation.created"
RECOMMENDATION_TRANSITIONED = "recommendation.transitioned"
RECOMMENDATION_PROGRESS_ADDED = "recommendation.progress_added"
RECOMMENDATION_EXTENSION_REQUESTED = "recommendation.extension_requested"
RECOMMENDATION_EXTENSION_DECIDED = "recommendation.extension_decided"
RECOMMENDATION_DUE_DATE_CHANGED = "recommendation.due_date_changed"
RECOMMENDATION_ESCALATED = "recommendation.escalated"
REPORT_CREATED = "recommendation.report_created"

NOTIFICATION_DELIVERED = "notification.delivered"
NOTIFICATION_FAILED = "notification.failed"


def deadletter_subject(consumer: str, event_type: str) -> str:
    """Where a message that keeps failing in a consumer is parked."""
    return f"deadletter.{consumer}.{event_type}"
