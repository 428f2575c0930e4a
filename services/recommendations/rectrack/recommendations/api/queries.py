"""Routes: filtered lists, the roll-up summary and CSV export (scoped to the caller)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from rectrack.common.app import CurrentPrincipal, Runtime
from rectrack.recommendations import queries, summary
from rectrack.recommendations.api.deps import Context, FiltersParam, Limit, Offset

router = APIRouter(tags=["queries"])
Sort = Annotated[str | None, Query(max_length=200, description="due_date, -due_date, updated_at, reference, ...")]


@router.get("/recommendations", summary="Filter, sort and page recommendations")
async def list_recommendations(runtime: Runtime, ctx: Context, principal: CurrentPrincipal, filters: FiltersParam,
                               sort: Sort = None, limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
    queries.order_by(sort)  # refuse a bad sort key before touching the database
    async with runtime.db.read() as session:
        return await queries.list_recommendations(session, filters=filters, sort=sort, limit=limit, offset=offset,
                                                  principal=principal, today=ctx.clock.today())


@router.get("/recommendations/summary", summary="Counts by state per body, region, theme and report; escalation; "
                                               "overdue; median days to complete")
async def get_summary(runtime: Runtime, ctx: Context, principal: CurrentPrincipal,
                      filters: FiltersParam) -> dict[str, Any]:
    return await summary.summary(runtime.db, filters=filters, principal=principal, today=ctx.clock.today())


@router.get("/recommendations/export.csv", summary="The filtered list as CSV (streamed)",
            response_class=StreamingResponse)
async def export_csv(runtime: Runtime, ctx: Context, principal: CurrentPrincipal, filters: FiltersParam,
                     sort: Sort = None) -> StreamingResponse:
    queries.order_by(sort)
    rows = queries.export_csv(runtime.db, filters=filters, sort=sort, principal=principal, today=ctx.clock.today())
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": 'attachment; filename="recommendations.csv"',
                                      "X-Content-Type-Options": "nosniff"})
