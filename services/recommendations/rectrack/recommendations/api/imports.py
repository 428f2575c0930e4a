"""Route: bulk import of a report's recommendations (CSV or JSON)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status

from rectrack.common.app import CurrentPrincipal, IdempotencyKey, Runtime
from rectrack.common.errors import Problem
from rectrack.recommendations.access import require_acting_staff
from rectrack.recommendations.api.bodyread import media_type, read_capped
from rectrack.recommendations.api.deps import Context
from rectrack.recommendations.bodies import bodies_by_id
from rectrack.recommendations.imports import import_recommendations, parse_csv, parse_json
from rectrack.recommendations.views import recommendation_view

router = APIRouter(tags=["recommendations"])


@router.post("/reports/{report_id}/recommendations/import", status_code=status.HTTP_201_CREATED,
             summary="Import a report's recommendations from text/csv or application/json, all or nothing")
async def import_report_recommendations(report_id: str, request: Request, runtime: Runtime, ctx: Context,
                                        principal: CurrentPrincipal, idempotency: IdempotencyKey,
                                        issue: bool = False) -> Any:
    require_acting_staff(principal)
    if idempotency.replay:
        return idempotency.replay
    kind = media_type(request)
    if kind not in ("text/csv", "application/json"):
        raise Problem(415, "unsupported-media-type", "Unsupported media type",
                      "send the import as text/csv or application/json")
    raw = await read_capped(request, ctx.settings.import_max_bytes)
    records = parse_csv(raw) if kind == "text/csv" else parse_json(raw)
    if len(records) > ctx.settings.import_max_rows:
        raise Problem(413, "too-many-rows", "Too many rows", f"at most {ctx.settings.import_max_rows} rows per import")
    now = ctx.clock.now()
    async with runtime.db.transaction() as session:
        created = await import_recommendations(session, outbox=runtime.outbox, report_id=report_id, records=records,
                                               issue_default=issue, actor=principal, now=now)
        bodies = await bodies_by_id(session, {r.body_id for r in created})
        items = [recommendation_view(r, principal=principal, today=now.date(), body=bodies.get(r.body_id),
                                     detail=False) for r in created]
        answer = {"items": items, "total": len(items), "groups": len({r.group_id for r in created})}
        await idempotency.complete(session, 201, answer)
    return answer
