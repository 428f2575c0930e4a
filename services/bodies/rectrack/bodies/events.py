"""The body.* events: the whole body as it now stands (BodyV1), subject = the body's id."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.bodies.models import Body
from rectrack.common.contracts import BodyV1
from rectrack.common.events.outbox import Outbox


def body_payload(body: Body) -> BodyV1:
    """The event payload for a body (with the webhook secret: the bus is internal)."""
    return BodyV1(
        id=body.id,
        code=body.code,
        name=body.name,
        kind=body.kind,  # type: ignore[arg-type]
        region=body.region,
        status=body.status,  # type: ignore[arg-type]
        version=body.version,
        contacts=list(body.contacts or []),  # type: ignore[arg-type]
        webhook_url=body.webhook_url,
        webhook_secret=body.webhook_secret,
    )


async def record_body_event(session: AsyncSession, outbox: Outbox, event_type: str, body: Body) -> None:
    """Write one body event into the caller's transaction."""
    await outbox.add(session, event_type, body.id, body_payload(body).model_dump(mode="json"))
