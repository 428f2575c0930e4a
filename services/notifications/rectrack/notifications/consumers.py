"""Event handlers: body.* keeps the read model of contacts and webhooks; recommendation.* becomes notices.

Both run inside the idempotent consumer's transaction (libs/common), so a redelivered event creates nothing new.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.clock import Clock
from rectrack.common.contracts import (
    BodyV1,
    EscalatedV1,
    ExtensionDecidedV1,
    ExtensionRequestedV1,
    RecommendationIssuedV1,
    RecommendationSnapshotV1,
    RecommendationTransitionedV1,
)
from rectrack.common.events import subjects
from rectrack.common.events.envelope import Envelope
from rectrack.common.events.outbox import Outbox
from rectrack.notifications import recipients as recipients_mod
from rectrack.notifications.config import NotificationsSettings
from rectrack.notifications.deliveries import Notice, record_notice
from rectrack.notifications.render import render
from rectrack.notifications.rules import KIND_BY_TRIGGER, RuleTable, audiences_for, trigger_of

log = logging.getLogger(__name__)

BODY_EVENTS = (subjects.BODY_CREATED, subjects.BODY_UPDATED, subjects.BODY_DEACTIVATED)
PAYLOADS: dict[str, type[BaseModel]] = {
    subjects.RECOMMENDATION_ISSUED: RecommendationIssuedV1,
    subjects.RECOMMENDATION_TRANSITIONED: RecommendationTransitionedV1,
    subjects.RECOMMENDATION_EXTENSION_REQUESTED: ExtensionRequestedV1,
    subjects.RECOMMENDATION_EXTENSION_DECIDED: ExtensionDecidedV1,
    subjects.RECOMMENDATION_ESCALATED: EscalatedV1,
}


class BodyNotKnownYet(RuntimeError):
    """A recommendation event arrived before its body's; the consumer retries it a little later."""


async def on_body_event(session: AsyncSession, envelope: Envelope) -> None:
    """body.created / updated / deactivated: keep contacts and webhook settings."""
    if envelope.type in BODY_EVENTS:
        await recipients_mod.apply_body(session, BodyV1.model_validate(envelope.data))


class RecommendationNotifier:
    """Turns recommendation.* events into inbox notices and queued deliveries, by the rule table."""

    def __init__(self, *, settings: NotificationsSettings, outbox: Outbox, clock: Clock) -> None:
        self.settings = settings
        self.rules: RuleTable = settings.rule_table()
        self.outbox = outbox
        self.clock = clock

    async def __call__(self, session: AsyncSession, envelope: Envelope) -> None:
        """Handle one recommendation.* event."""
        trigger = trigger_of(envelope)
        if trigger is None or envelope.type not in PAYLOADS:
            return
        audiences = audiences_for(self.rules, trigger)
        if not audiences:
            return
        payload: Any = PAYLOADS[envelope.type].model_validate(envelope.data)
        rec: RecommendationSnapshotV1 = payload.recommendation
        body = await recipients_mod.get_body(session, rec.body_id)
        if body is None:
            # body.* and recommendation.* are separate streams: the body's event may simply not be here yet.
            raise BodyNotKnownYet(f"body {rec.body_id!r} is not known yet (no body.* event seen)")
        kind = KIND_BY_TRIGGER[trigger]
        context = self.context(kind, payload, rec, body_name=rec.body_name or body.name)
        try:
            message = render(kind, context)
        except ValueError as exc:
            # Retrying cannot add a missing field: say so loudly rather than dead-lettering the stream's order.
            log.error("cannot notify %s %s for %s: %s", envelope.type, envelope.id, rec.id, exc)
            return
        data = {**message.data, "event_id": envelope.id, "event_type": envelope.type,
                "occurred_at": envelope.occurred_at.isoformat(), "body_id": rec.body_id}
        notice = Notice(envelope=envelope, kind=kind, message=message, data=data, body_id=rec.body_id,
                        recommendation_id=rec.id)
        found = recipients_mod.resolve(self.settings, audiences, body, rec)
        await record_notice(session, notice=notice, recipients=found, outbox=self.outbox, now=self.clock.now())

    def context(self, kind: str, payload: Any, rec: RecommendationSnapshotV1, *, body_name: str) -> dict[str, Any]:
        """The template fields for one event."""
        actor = getattr(payload, "actor", None)
        context: dict[str, Any] = {
            "reference": rec.reference, "title": rec.title, "body_name": body_name, "state": rec.state,
            "recommendation_id": rec.id, "due_date": rec.due_date,
            "link": f"{self.settings.public_url.rstrip('/')}/api/v1/recommendations/{rec.id}",
            "actor_name": (actor.name or actor.subject) if actor is not None else None,
        }
        if isinstance(payload, RecommendationTransitionedV1):
            context["reason"] = payload.reason
        elif isinstance(payload, ExtensionRequestedV1):
            context.update(reason=payload.reason, proposed_date=payload.proposed_due_date,
                           due_date=rec.due_date or payload.proposed_due_date)
        elif isinstance(payload, ExtensionDecidedV1):
            context.update(reason=payload.reason, decision="approved" if payload.granted else "refused",
                           proposed_date=payload.proposed_due_date,
                           due_date=rec.due_date or payload.proposed_due_date)
        elif isinstance(payload, EscalatedV1):
            days = (payload.as_of.date() - payload.due_date).days
            context.update(level=payload.level, previous_level=payload.previous_level, due_date=payload.due_date,
                           days_overdue=days if days > 0 else None)
        return context
