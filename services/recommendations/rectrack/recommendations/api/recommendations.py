"""Routes: create recommendations for one or many bodies, read one or a group, act on it, read its history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status

from rectrack.common.app import CurrentPrincipal, IdempotencyKey, Runtime
from rectrack.recommendations import history, tracking
from rectrack.recommendations.access import load_visible, parse_if_match
from rectrack.recommendations.api.deps import Context
from rectrack.recommendations.bodies import bodies_by_id
from rectrack.recommendations.schemas import RecommendationIn, TransitionIn
from rectrack.recommendations.transitions import apply_action
from rectrack.recommendations.views import recommendation_view

router = APIRouter(tags=["recommendations"])


def etag(version: int) -> str:
    """The ETag of a version."""
    return f'"{version}"'


@router.post("/recommendations", status_code=status.HTTP_201_CREATED,
             summary="Create a recommendation for one or many bodies (one tracked row per body)")
async def create_recommendations(data: RecommendationIn, runtime: Runtime, ctx: Context,
                                 principal: CurrentPrincipal, idempotency: IdempotencyKey) -> Any:
    if idempotency.replay:
        return idempotency.replay
    now = ctx.clock.now()
    async with runtime.db.transaction() as session:
        created = await tracking.create_recommendations(session, outbox=runtime.outbox, report_id=data.report_id,
                                                        data=data, actor=principal, now=now)
        bodies = await bodies_by_id(session, {r.body_id for r in created})
        items = [recommendation_view(r, principal=principal, today=now.date(), body=bodies.get(r.body_id),
                                     detail=False) for r in created]
        answer = {"items": items, "total": len(items), "group_id": created[0].group_id}
        await idempotency.complete(session, 201, answer)
    return answer


@router.get("/recommendations/groups/{group_id}", summary="How many of a group's bodies are in each state")
async def get_group(group_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return await tracking.group_view(session, group_id=group_id, principal=principal)


@router.get("/recommendations/{recommendation_id}", summary="One body's recommendation, with allowed actions")
async def get_recommendation(recommendation_id: str, response: Response, runtime: Runtime, ctx: Context,
                             principal: CurrentPrincipal) -> dict[str, Any]:
    async with runtime.db.read() as session:
        rec, view = await tracking.get_detail(session, recommendation_id=recommendation_id, principal=principal,
                                              today=ctx.clock.today())
    response.headers["ETag"] = etag(rec.version)
    return view


@router.post("/recommendations/{recommendation_id}/transitions",
             summary="Take a lifecycle action (issue, start, submit, approve, return, supersede, withdraw, reopen)")
async def transition(recommendation_id: str, data: TransitionIn, response: Response, runtime: Runtime, ctx: Context,
                     principal: CurrentPrincipal, idempotency: IdempotencyKey,
                     if_match: Annotated[str | None, Header(max_length=40)] = None) -> Any:
    if idempotency.replay:
        return idempotency.replay
    expected = parse_if_match(if_match)
    if expected is None:
        expected = data.version
    now = ctx.clock.now()
    async with runtime.db.transaction() as session:
        await apply_action(session, outbox=runtime.outbox, recommendation_id=recommendation_id, data=data,
                           expected_version=expected, actor=principal, now=now)
        rec, view = await tracking.get_detail(session, recommendation_id=recommendation_id, principal=principal,
                                              today=now.date())
        await idempotency.complete(session, 200, view)
    response.headers["ETag"] = etag(rec.version)
    return view


@router.get("/recommendations/{recommendation_id}/history", summary="Everything that happened to it, in order")
async def get_history(recommendation_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict[str, Any]:
    async with runtime.db.read() as session:
        rec = await load_visible(session, recommendation_id, principal)
        items = await history.list_history(session, recommendation_id=rec.id)
    return {"items": items, "total": len(items)}
