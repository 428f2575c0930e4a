"""/api/v1/reports and /api/v1/recommendations: reports, per-body recommendations, lifecycle, progress and evidence,
extension requests, history, queries, summary and export.

The gateway authenticates every call and passes it through; the recommendations service enforces who may see
and do what (a body's principal gets 404 for another body's recommendation, in lists, files and JSON alike).
Uploads stream through to the service as they arrive, under the gateway's request size limit (413 beyond it);
downloads and CSV exports stream back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response

from rectrack.common.auth import Principal
from rectrack.common.errors import Problem
from rectrack.gateway.auth import Caller
from rectrack.gateway.clients.base import FORWARDED_REQUEST_HEADERS, FORWARDED_RESPONSE_HEADERS, downstream_problem
from rectrack.gateway.clients.recommendations import Recommendations

router = APIRouter(prefix="/api/v1", tags=["recommendations"])

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
FILE_HEADERS = (*FORWARDED_RESPONSE_HEADERS, "X-Content-Type-Options", "Content-Security-Policy")
IF_MATCH_DOC = {"parameters": [{"name": "If-Match", "in": "header", "required": False, "schema": {"type": "string"},
                                "description": 'the version you read, e.g. "3"; a stale one gets 412'}]}


def _json_body(example: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"},
                                                                              "example": example}}}, **(extra or {})}


def _require_acting_staff(principal: Principal) -> None:
    if not principal.can_act_as_staff:
        raise Problem(403, "forbidden", "Forbidden", "only inspectors and administrators may do this")


class _CountedStream:
    """The incoming body, counted as it streams; remembers whether reading it failed (e.g. over the limit)."""

    def __init__(self, request: Request) -> None:
        self.request = request
        self.failed: BaseException | None = None
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.request.stream():
                self.sent += len(chunk)
                yield chunk
        except Exception as exc:
            self.failed = exc
            raise


async def _forward_upload(request: Request, principal: Principal, recs: Recommendations, path: str) -> Response:
    """Stream the body through as it arrives; a body cut off by the size limit answers 413, not 503."""
    body = _CountedStream(request)
    headers = {h: request.headers[h] for h in FORWARDED_REQUEST_HEADERS if h in request.headers}
    try:
        response = await recs.service.send("POST", path, principal=principal, content=body.__aiter__(),
                                           params=list(request.query_params.multi_items()), headers=headers)
    except Problem:
        if body.failed is not None:
            raise body.failed from None  # the size limit's own answer (413) wins over "service unavailable"
        raise
    if response.status_code >= 400:
        raise downstream_problem(recs.service.name, response)
    kept = {h: response.headers[h] for h in FORWARDED_RESPONSE_HEADERS if h in response.headers}
    return Response(response.content, status_code=response.status_code, headers=kept,
                    media_type=response.headers.get("content-type"))


# --- reports ----------------------------------------------------------------------------------------------------

REPORT_EXAMPLE = {"title": "PEEL 2025: West Midlands Police", "kind": "peel", "level": "local",
                  "published_on": "2025-03-01", "url": "https://hmicfrs.justiceinspectorates.gov.uk/..."}


@router.post("/reports", status_code=201, summary="Create a report (inspectors, admins)",
             openapi_extra=_json_body(REPORT_EXAMPLE))
async def create_report(request: Request, principal: Caller, recs: Recommendations) -> Response:
    _require_acting_staff(principal)
    return await recs.service.forward(request, principal, "/reports")


@router.get("/reports", summary="List reports", description="Filters `kind`, `level`, `q`; `limit`, `offset`.")
async def list_reports(request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, "/reports")


@router.get("/reports/{report_id}", summary="Read a report")
async def get_report(report_id: Id, request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, f"/reports/{report_id}")


@router.post("/reports/{report_id}/recommendations/import", status_code=201,
             summary="Import a report's recommendations (text/csv or application/json), all or nothing",
             description="Columns/fields as POST /recommendations without `report_id`; lists in CSV are separated "
                         "by `;`. `?issue=true` issues them at once. Errors: 422 with `errors: [{row, column, "
                         "message}]` (row 1 is the first record; row 0 the CSV header); nothing is written.")
async def import_recommendations(report_id: Id, request: Request, principal: Caller,
                                 recs: Recommendations) -> Response:
    _require_acting_staff(principal)
    return await _forward_upload(request, principal, recs, f"/reports/{report_id}/recommendations/import")


# --- recommendations --------------------------------------------------------------------------------------------

RECOMMENDATION_EXAMPLE = {
    "report_id": "<report id>", "kind": "recommendation", "reference": "PEEL-2025-R3",
    "title": "Improve the response to domestic abuse", "text": "By March 2026 the force should ...",
    "themes": ["domestic-abuse"], "priority": "high", "benefits": "...", "risks": "...",
    "closure_criteria": "...", "due_date": "2026-03-31", "owner": "local-inspector",
    "recipient_body_ids": ["west-midlands-police", "west-mercia-police"], "issue": True}


@router.post("/recommendations", status_code=201, summary="Create a recommendation for one or many bodies",
             description="One tracked recommendation per recipient (draft, or issued with `issue: true`), sharing "
                         "a `group_id`. Unknown, merged or abolished recipients: 422 naming them.",
             openapi_extra=_json_body(RECOMMENDATION_EXAMPLE))
async def create_recommendations(request: Request, principal: Caller, recs: Recommendations) -> Response:
    _require_acting_staff(principal)
    return await recs.service.forward(request, principal, "/recommendations")


@router.get("/recommendations", summary="Filter, sort and page recommendations",
            description="Filters (repeat a key for several values): `body_id`, `region`, `body_kind`, `report_id`, "
                        "`group_id`, `kind`, `theme`, `state`, `escalation_level`, `priority`, `overdue`, "
                        "`due_before`, `due_after`, `q`. `sort` (e.g. `-due_date,reference`), `limit` <= 500, "
                        "`offset`. A body sees only its own.")
async def list_recommendations(request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, "/recommendations")


@router.get("/recommendations/summary", summary="Roll-up counts (same filters as the list)")
async def summary(request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, "/recommendations/summary")


@router.get("/recommendations/export.csv", summary="Export the filtered list as CSV (streamed)")
async def export_csv(request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, "/recommendations/export.csv", stream_response=True,
                                      response_headers=FILE_HEADERS)


@router.get("/recommendations/groups/{group_id}", summary="How many of a group's bodies are in each state")
async def get_group(group_id: Id, request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, f"/recommendations/groups/{group_id}")


@router.get("/recommendations/{recommendation_id}", summary="Read one body's recommendation",
            description="Includes `state`, `version` (also the ETag), `due_date`, `escalation_level` and the "
                        "`allowed_actions` of the caller.")
async def get_recommendation(recommendation_id: Id, request: Request, principal: Caller,
                             recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, f"/recommendations/{recommendation_id}")


@router.post("/recommendations/{recommendation_id}/transitions", summary="Take a lifecycle action",
             description="`action`: issue, start, submit, approve (needs `assessment`), return (needs `reason`), "
                         "supersede (needs `superseded_by`), withdraw (needs `reason`), reopen (needs `reason`). "
                         "Not allowed now: 409 naming `allowed_actions`; stale If-Match: 412.",
             openapi_extra=_json_body({"action": "return", "reason": "The evidence does not cover custody"},
                                      IF_MATCH_DOC))
async def transition(recommendation_id: Id, request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, f"/recommendations/{recommendation_id}/transitions")


@router.get("/recommendations/{recommendation_id}/history", summary="Everything that happened to it, in order")
async def history(recommendation_id: Id, request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, f"/recommendations/{recommendation_id}/history")


@router.post("/recommendations/{recommendation_id}/progress", status_code=201, summary="Post a progress update",
             description="JSON `{narrative, rag}` or multipart/form-data with `narrative`, `rag` and `files` "
                         "(repeatable). Files stream through; each is limited in size (413) and must be a PDF, "
                         "image, office document, CSV or text file by its content (415).")
async def post_progress(recommendation_id: Id, request: Request, principal: Caller,
                        recs: Recommendations) -> Response:
    return await _forward_upload(request, principal, recs, f"/recommendations/{recommendation_id}/progress")


@router.get("/recommendations/{recommendation_id}/progress", summary="Progress updates with their evidence")
async def list_progress(recommendation_id: Id, request: Request, principal: Caller,
                        recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, f"/recommendations/{recommendation_id}/progress")


@router.get("/recommendations/{recommendation_id}/evidence/{evidence_id}", summary="Download an evidence file")
async def download_evidence(recommendation_id: Id, evidence_id: Id, request: Request, principal: Caller,
                            recs: Recommendations) -> Response:
    response = await recs.service.forward(
        request, principal, f"/recommendations/{recommendation_id}/evidence/{evidence_id}", stream_response=True,
        response_headers=FILE_HEADERS)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.post("/recommendations/{recommendation_id}/extension-requests", status_code=201,
             summary="Ask for a later due date (the body), with a reason",
             openapi_extra=_json_body({"proposed_due_date": "2026-06-30", "reason": "Supplier delay"}))
async def request_extension(recommendation_id: Id, request: Request, principal: Caller,
                            recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal,
                                      f"/recommendations/{recommendation_id}/extension-requests")


@router.get("/recommendations/{recommendation_id}/extension-requests", summary="Extension requests")
async def list_extensions(recommendation_id: Id, request: Request, principal: Caller,
                          recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal,
                                      f"/recommendations/{recommendation_id}/extension-requests")


@router.post("/recommendations/{recommendation_id}/extension-requests/{request_id}/decision",
             summary="Grant or refuse an extension request (inspectors, admins), with a reason",
             openapi_extra=_json_body({"granted": True, "reason": "Evidence of supplier failure"}))
async def decide_extension(recommendation_id: Id, request_id: Id, request: Request, principal: Caller,
                           recs: Recommendations) -> Response:
    _require_acting_staff(principal)
    return await recs.service.forward(
        request, principal, f"/recommendations/{recommendation_id}/extension-requests/{request_id}/decision")
