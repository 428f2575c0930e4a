"""The local read model of inspected bodies, fed by body.* events, and the recipient checks that use it."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.contracts import BodyV1
from rectrack.common.db import insert_ignore, utcnow
from rectrack.common.errors import Problem
from rectrack.common.events.envelope import Envelope
from rectrack.recommendations.models import Body

CONSUMER_NAME = "recommendations-bodies"


async def apply_body_event(session: AsyncSession, envelope: Envelope) -> None:
    """Upsert the body an event describes, ignoring versions older than (or equal to) what we hold."""
    if not envelope.type.startswith("body."):
        return
    body = BodyV1.model_validate(envelope.data)
    values = {"id": body.id, "name": body.name, "kind": body.kind, "region": body.region, "status": body.status,
              "version": body.version, "updated_at": utcnow()}
    if await insert_ignore(session, Body.__table__, values):
        return
    current = (await session.execute(select(Body).where(Body.id == body.id).with_for_update())).scalar_one()
    if body.version <= current.version:
        return
    for key, value in values.items():
        setattr(current, key, value)
    await session.flush()


async def bodies_by_id(session: AsyncSession, body_ids: Iterable[str]) -> dict[str, Body]:
    """The known bodies among these ids."""
    ids = sorted(set(body_ids))
    if not ids:
        return {}
    rows = (await session.execute(select(Body).where(Body.id.in_(ids)))).scalars()
    return {b.id: b for b in rows}


def recipient_problems(body_ids: list[str], known: dict[str, Body]) -> list[dict[str, str]]:
    """Why each refused recipient is refused: unknown, or no longer active (merged or abolished)."""
    problems = []
    for body_id in dict.fromkeys(body_ids):
        body = known.get(body_id)
        if body is None:
            problems.append({"body_id": body_id, "message": f"unknown body {body_id!r}"})
        elif body.status != "active":
            problems.append({"body_id": body_id, "message": f"body {body_id!r} is {body.status}"})
    return problems


async def check_recipients(session: AsyncSession, body_ids: list[str]) -> dict[str, Body]:
    """The recipient bodies, all known and active; 422 naming every one that is not."""
    known = await bodies_by_id(session, body_ids)
    problems = recipient_problems(body_ids, known)
    if problems:
        names = ", ".join(p["body_id"] for p in problems)
        raise Problem(422, "invalid-recipients", "Invalid recipients",
                      f"cannot address recommendations to: {names}", errors=problems)
    return known
