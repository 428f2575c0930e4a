"""Routes: due-date extension requests and decisions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from rectrack.common.app import CurrentPrincipal, IdempotencyKey, Runtime
from rectrack.recommendations import extensions
from rectrack.recommendations.api.deps import Context
from rectrack.recommendations.schemas import ExtensionDecisionIn, ExtensionRequestIn

router = APIRouter(tags=["extensions"])


@router.post("/recommendations/{recommendation_id}/extension-requests", status_code=status.HTTP_201_CREATED,
             summary="A body asks for a later due date, with a reason")
async def request_extension(recommendation_id: str, data: ExtensionRequestIn, runtime: Runtime, ctx: Context,
                            principal: CurrentPrincipal, idempotency: IdempotencyKey) -> Any:
    if idempotency.replay:
        return idempotency.replay
    async with runtime.db.transaction() as session:
        req = await extensions.request_extension(session, outbox=runtime.outbox, recommendation_id=recommendation_id,
                                                 data=data, actor=principal, now=ctx.clock.now())
        view = extensions.request_view(req)
        await idempotency.complete(session, 201, view)
    return view


@router.get("/recommendations/{recommendation_id}/extension-requests", summary="Extension requests, oldest first")
async def list_extension_requests(recommendation_id: str, runtime: Runtime,
                                  principal: CurrentPrincipal) -> dict[str, Any]:
    async with runtime.db.read() as session:
        items = await extensions.list_requests(session, recommendation_id=recommendation_id, principal=principal)
        return {"items": [extensions.request_view(r) for r in items], "total": len(items)}


@router.post("/recommendations/{recommendation_id}/extension-requests/{request_id}/decision",
             summary="Staff grant (moving the due date) or refuse a pending request, with a reason")
async def decide_extension(recommendation_id: str, request_id: str, data: ExtensionDecisionIn, runtime: Runtime,
                           ctx: Context, principal: CurrentPrincipal, idempotency: IdempotencyKey) -> Any:
    if idempotency.replay:
        return idempotency.replay
    async with runtime.db.transaction() as session:
        req = await extensions.decide_extension(session, outbox=runtime.outbox, recommendation_id=recommendation_id,
                                                request_id=request_id, data=data, actor=principal,
                                                now=ctx.clock.now())
        view = extensions.request_view(req)
        await idempotency.complete(session, 200, view)
    return view
