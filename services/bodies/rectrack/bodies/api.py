"""HTTP routes of the bodies service (internal: every request carries the gateway-signed principal)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from rectrack.bodies import apikeys, service
from rectrack.bodies.apikeys import API_KEY_SUBJECT_PREFIX
from rectrack.bodies.config import BodiesSettings
from rectrack.bodies.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    BodyCreate,
    BodyOut,
    BodyPage,
    BodyUpdate,
    Deactivate,
    VerifiedKey,
    VerifyKey,
)
from rectrack.common.app import CurrentPrincipal, IdempotencyKey, Runtime
from rectrack.common.auth import Principal
from rectrack.common.contracts import BodyKind, BodyStatus
from rectrack.common.errors import Problem, not_found

router = APIRouter(tags=["bodies"])
internal_router = APIRouter(tags=["internal"])

_IF_MATCH_RE = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
IfMatch = Annotated[str | None, Header(alias="If-Match", max_length=64)]


async def get_settings(request: Request) -> BodiesSettings:
    """The settings of the app serving this request."""
    return request.app.state.settings  # type: ignore[no-any-return]


Settings = Annotated[BodiesSettings, Depends(get_settings)]


def parse_if_match(value: str | None) -> int | None:
    """The version an If-Match header names ("3", W/"3" or bare 3); 400 when it names none."""
    if value is None:
        return None
    match = _IF_MATCH_RE.match(value)
    if not match:
        raise Problem(400, "bad-if-match", "Bad If-Match", 'If-Match must be a version such as "3"')
    return int(match.group(1))


def actor(principal: Principal) -> str:
    """How a principal is recorded as the author of a change."""
    return f"{principal.kind}:{principal.subject}"


def require_admin(principal: Principal) -> None:
    """Only administrators (and internal services) change bodies."""
    if not principal.is_admin:
        raise Problem(403, "forbidden", "Forbidden", "only administrators may change bodies")


def authorise_keys(principal: Principal, body_id: str, *, write: bool) -> None:
    """Staff read any body's keys and admins manage them; a body's users manage its keys; its keys only list them."""
    if not principal.may_see_body(body_id):
        raise not_found("body")
    if principal.kind == "body":
        if write and principal.subject.startswith(API_KEY_SUBJECT_PREFIX):
            raise Problem(403, "forbidden", "Forbidden", "an API key cannot manage API keys; sign in as a user")
        return
    if write and not principal.is_admin:
        raise Problem(403, "forbidden", "Forbidden", "only administrators manage another body's API keys")


def _etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


@router.get("/bodies", response_model=BodyPage, summary="List bodies")
async def list_bodies(runtime: Runtime, principal: CurrentPrincipal, limit: Limit = 50, offset: Offset = 0,
                      kind: BodyKind | None = None, status: BodyStatus | None = None,
                      region: Annotated[str | None, Query(max_length=100)] = None,
                      q: Annotated[str | None, Query(max_length=200)] = None) -> BodyPage:
    filters = service.BodyFilters(kind=kind, region=region, status=status, q=q)
    async with runtime.db.read() as session:
        rows, total = await service.list_bodies(session, principal=principal, filters=filters, limit=limit,
                                                offset=offset)
        items = [service.body_out(b) for b in rows]
    return BodyPage(items=items, total=total, limit=limit, offset=offset)


@router.post("/bodies", response_model=BodyOut, status_code=201, summary="Create a body")
async def create_body(data: BodyCreate, runtime: Runtime, principal: CurrentPrincipal, response: Response,
                      idempotency: IdempotencyKey) -> Any:
    require_admin(principal)
    if idempotency.replay:
        return idempotency.replay
    async with runtime.db.transaction() as session:
        body = await service.create_body(session, outbox=runtime.outbox, data=data)
        out = service.body_out(body)
        await idempotency.complete(session, 201, out.model_dump(mode="json"))
    _etag(response, out.version)
    response.headers["Location"] = f"/bodies/{out.id}"
    return out


@router.get("/bodies/{body_id}", response_model=BodyOut, summary="Read a body")
async def get_body(body_id: str, runtime: Runtime, principal: CurrentPrincipal, response: Response) -> BodyOut:
    async with runtime.db.read() as session:
        out = service.body_out(await service.get_visible_body(session, principal=principal, body_id=body_id))
    _etag(response, out.version)
    return out


@router.patch("/bodies/{body_id}", response_model=BodyOut, summary="Update a body (If-Match or version)")
async def update_body(body_id: str, data: BodyUpdate, runtime: Runtime, principal: CurrentPrincipal,
                      response: Response, if_match: IfMatch = None) -> BodyOut:
    if not principal.may_see_body(body_id):
        raise not_found("body")
    require_admin(principal)
    expected = parse_if_match(if_match)
    async with runtime.db.transaction() as session:
        body = await service.update_body(session, outbox=runtime.outbox, body_id=body_id, data=data,
                                         if_match=expected)
        out = service.body_out(body)
    _etag(response, out.version)
    return out


@router.post("/bodies/{body_id}/deactivate", response_model=BodyOut, summary="Mark a body merged or abolished")
async def deactivate_body(body_id: str, data: Deactivate, runtime: Runtime, principal: CurrentPrincipal,
                          response: Response, idempotency: IdempotencyKey, if_match: IfMatch = None) -> Any:
    if not principal.may_see_body(body_id):
        raise not_found("body")
    require_admin(principal)
    if idempotency.replay:
        return idempotency.replay
    expected = parse_if_match(if_match)
    async with runtime.db.transaction() as session:
        body = await service.deactivate_body(session, outbox=runtime.outbox, body_id=body_id, data=data,
                                             if_match=expected)
        out = service.body_out(body)
        await idempotency.complete(session, 200, out.model_dump(mode="json"))
    _etag(response, out.version)
    return out


@router.get("/bodies/{body_id}/api-keys", response_model=ApiKeyPage, summary="List a body's API keys")
async def list_api_keys(body_id: str, runtime: Runtime, principal: CurrentPrincipal, limit: Limit = 100,
                        offset: Offset = 0) -> ApiKeyPage:
    authorise_keys(principal, body_id, write=False)
    async with runtime.db.read() as session:
        await service.get_visible_body(session, principal=principal, body_id=body_id)
        rows, total = await apikeys.list_keys(session, body_id=body_id, limit=limit, offset=offset)
        items = [apikeys.key_out(k) for k in rows]
    return ApiKeyPage(items=items, total=total, limit=limit, offset=offset)


@router.post("/bodies/{body_id}/api-keys", response_model=ApiKeyCreated, status_code=201,
             summary="Create an API key (its secret is shown only in this answer)")
async def create_api_key(body_id: str, runtime: Runtime, principal: CurrentPrincipal, response: Response,
                         data: ApiKeyCreate | None = None) -> ApiKeyCreated:
    # No Idempotency-Key here on purpose: replaying would have to store the key's secret.
    authorise_keys(principal, body_id, write=True)
    async with runtime.db.transaction() as session:
        created = await apikeys.create_key(session, body_id=body_id, name=(data or ApiKeyCreate()).name,
                                           created_by=actor(principal))
    response.headers["Location"] = f"/bodies/{body_id}/api-keys/{created.id}"
    response.headers["Cache-Control"] = "no-store"
    return created


@router.delete("/bodies/{body_id}/api-keys/{key_id}", status_code=204, summary="Revoke an API key")
async def revoke_api_key(body_id: str, key_id: Annotated[str, Path(max_length=64)], runtime: Runtime,
                         principal: CurrentPrincipal) -> Response:
    authorise_keys(principal, body_id, write=True)
    async with runtime.db.transaction() as session:
        await apikeys.revoke_key(session, body_id=body_id, key_id=key_id, revoked_by=actor(principal))
    return Response(status_code=204)


@internal_router.post("/internal/api-keys/verify", response_model=VerifiedKey,
                      summary="Which body a presented API key belongs to (internal services only)")
async def verify_api_key(data: VerifyKey, runtime: Runtime, principal: CurrentPrincipal,
                         settings: Settings) -> VerifiedKey:
    if principal.kind != "service":
        raise Problem(403, "forbidden", "Forbidden", "only internal services verify API keys")
    async with runtime.db.read() as session:
        key = await apikeys.find_valid_key(session, data.key)
    if key is None:
        raise Problem(401, "invalid-api-key", "Invalid API key", "the API key is unknown, revoked or its body inactive")
    async with runtime.db.transaction() as session:
        await apikeys.mark_used(session, key=key, resolution_seconds=settings.key_last_used_resolution_seconds)
    return VerifiedKey(body_id=key.body_id, key_id=key.id, name=key.name)
