"""Routes: inspection reports."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from rectrack.common.app import CurrentPrincipal, IdempotencyKey, Runtime
from rectrack.recommendations import reports as use_cases
from rectrack.recommendations.access import require_acting_staff
from rectrack.recommendations.api.deps import Context, Limit, Offset
from rectrack.recommendations.schemas import ReportIn, ReportKind, ReportLevel

router = APIRouter(tags=["reports"])


@router.post("/reports", status_code=status.HTTP_201_CREATED, summary="Create a report (inspectors, admins)")
async def create_report(data: ReportIn, runtime: Runtime, ctx: Context, principal: CurrentPrincipal,
                        idempotency: IdempotencyKey) -> Any:
    require_acting_staff(principal)
    if idempotency.replay:
        return idempotency.replay
    async with runtime.db.transaction() as session:
        report = await use_cases.create_report(session, outbox=runtime.outbox, data=data, actor=principal,
                                               now=ctx.clock.now())
        view = use_cases.report_view(report)
        await idempotency.complete(session, 201, view)
    return view


@router.get("/reports", summary="List reports, newest first")
async def list_reports(runtime: Runtime, principal: CurrentPrincipal, kind: ReportKind | None = None,
                       level: ReportLevel | None = None, q: Annotated[str | None, Query(max_length=200)] = None,
                       limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
    async with runtime.db.read() as session:
        reports, total = await use_cases.list_reports(session, kind=kind, level=level, q=q, limit=limit,
                                                      offset=offset)
        return {"items": [use_cases.report_view(r) for r in reports], "total": total, "limit": limit,
                "offset": offset}


@router.get("/reports/{report_id}", summary="One report")
async def get_report(report_id: str, runtime: Runtime, principal: CurrentPrincipal) -> dict[str, Any]:
    async with runtime.db.read() as session:
        return use_cases.report_view(await use_cases.get_report(session, report_id=report_id))
