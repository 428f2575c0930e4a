"""Building event payloads from recommendation rows and recording them in the outbox."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.auth import Principal
from rectrack.common.contracts import ActorV1, RecommendationSnapshotV1
from rectrack.common.events.outbox import Outbox
from rectrack.recommendations.models import Recommendation


def actor_v1(principal: Principal) -> ActorV1:
    """The event form of who acted."""
    return ActorV1(kind=principal.kind, subject=principal.subject, name=principal.name)


def snapshot(rec: Recommendation, body_name: str | None = None) -> RecommendationSnapshotV1:
    """One body's recommendation as it stands now."""
    return RecommendationSnapshotV1(
        id=rec.id, group_id=rec.group_id, report_id=rec.report_id, reference=rec.reference, title=rec.title,
        kind=rec.kind, body_id=rec.body_id, body_name=body_name, state=rec.state,  # type: ignore[arg-type]
        version=rec.version, due_date=rec.due_date, escalation_level=rec.escalation_level,  # type: ignore[arg-type]
        owner=rec.owner, priority=rec.priority, themes=list(rec.themes or []),
    )


async def record(session: AsyncSession, outbox: Outbox, event_type: str, rec: Recommendation,
                 payload: BaseModel | dict[str, Any]) -> None:
    """Record one event about this recommendation in the caller's transaction (subject = its id)."""
    data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
    await outbox.add(session, event_type, rec.id, data)
