"""Use cases on bodies: create, list, read, update with optimistic versions, deactivate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.bodies.events import record_body_event
from rectrack.bodies.models import Body
from rectrack.bodies.schemas import BodyCreate, BodyOut, BodyUpdate, Deactivate
from rectrack.common.auth import Principal
from rectrack.common.db import utcnow
from rectrack.common.errors import Problem, not_found
from rectrack.common.events.outbox import Outbox
from rectrack.common.events.subjects import BODY_CREATED, BODY_DEACTIVATED, BODY_UPDATED

MUTABLE_FIELDS = ("name", "kind", "region", "contacts", "webhook_url", "webhook_secret")


@dataclass(frozen=True)
class BodyFilters:
    """What a body list may be narrowed by."""

    kind: str | None = None
    region: str | None = None
    status: str | None = None
    q: str | None = None


def body_out(body: Body) -> BodyOut:
    """The public shape of a body."""
    return BodyOut(
        id=body.id, code=body.code, name=body.name, kind=body.kind, region=body.region,  # type: ignore[arg-type]
        status=body.status, status_reason=body.status_reason, contacts=body.contacts,  # type: ignore[arg-type]
        webhook_url=body.webhook_url, webhook_secret_set=bool(body.webhook_secret), version=body.version,
        created_at=body.created_at, updated_at=body.updated_at,
    )


def precondition_failed(current: int) -> Problem:
    """The answer to a stale version."""
    return Problem(412, "precondition-failed", "Precondition failed",
                   "the body was changed by someone else; read it again", current_version=current)


async def get_visible_body(session: AsyncSession, *, principal: Principal, body_id: str) -> Body:
    """The body, or 404 when it does not exist or the principal may not see it."""
    if not principal.may_see_body(body_id):
        raise not_found("body")
    body = await session.get(Body, body_id)
    if body is None:
        raise not_found("body")
    return body


async def list_bodies(session: AsyncSession, *, principal: Principal, filters: BodyFilters, limit: int,
                      offset: int) -> tuple[list[Body], int]:
    """A page of the bodies the principal may see, by name, and the total matching."""
    query = select(Body)
    if not principal.is_staff:
        query = query.where(Body.id == principal.body_id)
    if filters.kind:
        query = query.where(Body.kind == filters.kind)
    if filters.region:
        query = query.where(func.lower(Body.region) == filters.region.lower())
    if filters.status:
        query = query.where(Body.status == filters.status)
    if filters.q:
        escaped = filters.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        query = query.where(or_(func.lower(Body.name).like(pattern, escape="\\"),
                                Body.code.like(pattern, escape="\\"),
                                func.lower(Body.region).like(pattern, escape="\\")))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = (await session.execute(query.order_by(Body.name, Body.id).limit(limit).offset(offset))).scalars().all()
    return list(rows), int(total)


async def create_body(session: AsyncSession, *, outbox: Outbox, data: BodyCreate) -> Body:
    """Create a body (409 when its code is taken) and record body.created."""
    if await session.get(Body, data.code) is not None:
        raise Problem(409, "body-exists", "Body exists", f"a body with code {data.code!r} already exists")
    now = utcnow()
    body = Body(id=data.code, code=data.code, name=data.name, kind=data.kind, region=data.region, status="active",
                contacts=[c.model_dump() for c in data.contacts], webhook_url=data.webhook_url,
                webhook_secret=data.webhook_secret, version=1, created_at=now, updated_at=now)
    session.add(body)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent create of the same code won
        raise Problem(409, "body-exists", "Body exists", f"a body with code {data.code!r} already exists") from None
    await record_body_event(session, outbox, BODY_CREATED, body)
    return body


async def _apply(session: AsyncSession, body: Body, expected: int, values: dict[str, Any]) -> Body:
    """Write values only if the row is still at the expected version; 412 otherwise."""
    values = {**values, "version": expected + 1, "updated_at": utcnow()}
    result = await session.execute(
        update(Body).where(Body.id == body.id, Body.version == expected).values(**values)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        await session.refresh(body)
        raise precondition_failed(body.version)
    await session.refresh(body)
    return body


def _expected_version(body: Body, if_match: int | None, field: int | None) -> int:
    expected = if_match if if_match is not None else field
    if expected is None:
        raise Problem(428, "precondition-required", "Precondition required",
                      "send If-Match: \"<version>\" or a version field", current_version=body.version)
    if expected != body.version:
        raise precondition_failed(body.version)
    return expected


async def update_body(session: AsyncSession, *, outbox: Outbox, body_id: str, data: BodyUpdate,
                      if_match: int | None) -> Body:
    """Change the given fields at the expected version and record body.updated (nothing changes: no event)."""
    body = await session.get(Body, body_id)
    if body is None:
        raise not_found("body")
    expected = _expected_version(body, if_match, data.version)
    given = data.model_fields_set - {"version"}
    for required in ("name", "kind"):
        if required in given and getattr(data, required) is None:
            raise Problem(422, "validation", "Invalid request", f"{required} cannot be null")
    values: dict[str, Any] = {}
    for field in MUTABLE_FIELDS:
        if field not in given:
            continue
        value = getattr(data, field)
        if field == "contacts":
            value = [c.model_dump() for c in value or []]
        if value != getattr(body, field):
            values[field] = value
    if not values:
        return body
    body = await _apply(session, body, expected, values)
    await record_body_event(session, outbox, BODY_UPDATED, body)
    return body


async def deactivate_body(session: AsyncSession, *, outbox: Outbox, body_id: str, data: Deactivate,
                          if_match: int | None) -> Body:
    """Mark an active body merged or abolished and record body.deactivated."""
    body = await session.get(Body, body_id)
    if body is None:
        raise not_found("body")
    expected = body.version if if_match is None and data.version is None else \
        _expected_version(body, if_match, data.version)
    if body.status != "active":
        raise Problem(409, "body-inactive", "Body already deactivated", f"the body is already {body.status}",
                      status_value=body.status)
    body = await _apply(session, body, expected, {"status": data.status, "status_reason": data.reason})
    await record_body_event(session, outbox, BODY_DEACTIVATED, body)
    return body
