"""/api/v1/reports and /api/v1/recommendations: reports, per-body recommendations, lifecycle, progress and evidence,
extension requests, history, queries, summary and export.

The gateway authenticates every call and passes it through; the recommendations service enforces who may see
and do what (a body's principal gets 404 for another body's recommendation, in lists, files and JSON alike).
Uploads stream through to the service as they arrive, under the gateway's request size limit (413 beyond it);
downloads and CSV exports stream back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from enum import Enum
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from rectrack.common.auth import Principal
from rectrack.common.errors import Problem
from rectrack.gateway.auth import Caller
from rectrack.gateway.clients.base import FORWARDED_RESPONSE_HEADERS, downstream_problem, forwarded_request_headers
from rectrack.gateway.clients.recommendations import Recommendations
from rectrack.gateway.openapi import (
    IDEMPOTENCY_KEY,
    IF_MATCH,
    PAGING,
    PROBLEM_RESPONSES,
    READ_RESPONSES,
    component,
    extra,
    json_body,
    query,
    request_body,
)
from rectrack.gateway.routes.recommendation_schemas import (
    EVIDENCE_MEDIA_TYPES,
    FILTERS,
    SORT,
    Created,
    ExtensionDecisionIn,
    ExtensionList,
    ExtensionRequest,
    ExtensionRequestIn,
    Group,
    HistoryList,
    ProgressForm,
    ProgressIn,
    ProgressList,
    ProgressUpdate,
    Recommendation,
    RecommendationFieldsIn,
    RecommendationIn,
    RecommendationPage,
    Report,
    ReportIn,
    ReportKind,
    ReportLevel,
    ReportPage,
    Summary,
    TransitionIn,
    _enum,
)

router = APIRouter(prefix="/api/v1", tags=["recommendations"], responses=READ_RESPONSES)
# Who uses a route, besides its area tag: bodies' systems, or staff only.
BODIES: list[str | Enum] = ["bodies"]
STAFF: list[str | Enum] = ["staff"]
WRITE = PROBLEM_RESPONSES  # a write can also answer 400, 409, 412, 413, 415 and 428

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
FILE_HEADERS = (*FORWARDED_RESPONSE_HEADERS, "X-Content-Type-Options", "Content-Security-Policy")
ETAG = {"schema": {"type": "string"}, "required": True, "description": 'The version, e.g. `"3"`: send it back as '
                                                                     "If-Match to change it."}
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
    headers = forwarded_request_headers(request)
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
                  "published_on": "2025-03-01", "url": "https://hmicfrs.justiceinspectorates.gov.uk/peel-2025"}
RECOMMENDATION_FIELDS_EXAMPLE = {
    "kind": "recommendation", "reference": "PEEL-2025-R3", "title": "Improve the response to domestic abuse",
    "text": "By March 2026 the force should ...", "themes": ["domestic-abuse"], "priority": "high",
    "benefits": "...", "risks": "...", "closure_criteria": "...", "due_date": "2026-03-31", "owner": "local-inspector",
    "recipient_body_ids": ["west-midlands-police", "west-mercia-police"], "issue": True}
IMPORT_CSV_EXAMPLE = ("reference,title,text,themes,due_date,recipient_body_ids\n"
                      "PEEL-2025-R1,Improve call handling,The force should ...,call-handling;vulnerability,"
                      "2026-03-31,west-midlands-police;west-mercia-police\n")


@router.post("/reports", status_code=201, summary="Create a report (inspectors, admins)", tags=STAFF,
             response_model=Report, responses=WRITE,
             openapi_extra=json_body(ReportIn, REPORT_EXAMPLE, parameters=IDEMPOTENCY_KEY))
async def create_report(request: Request, principal: Caller, recs: Recommendations) -> Response:
    _require_acting_staff(principal)
    return await recs.service.forward(request, principal, "/reports")


@router.get("/reports", summary="List reports, newest first", tags=BODIES, response_model=ReportPage,
            openapi_extra=extra([query("kind", _enum(ReportKind)), query("level", _enum(ReportLevel)),
                                 query("q", {"type": "string", "maxLength": 200}, "Text in the title."), *PAGING]))
async def list_reports(request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, "/reports")


@router.get("/reports/{report_id}", summary="Read a report", tags=BODIES, response_model=Report)
async def get_report(report_id: Id, request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, f"/reports/{report_id}")


@router.post("/reports/{report_id}/recommendations/import", status_code=201, tags=STAFF, response_model=Created,
             summary="Import a report's recommendations (text/csv or application/json), all or nothing",
             description="Columns/fields as POST /recommendations without `report_id`; lists in CSV are separated "
                         "by `;`. `?issue=true` issues them at once. Errors: 422 with `errors: [{row, column, "
                         "message}]` (row 1 is the first record; row 0 the CSV header); nothing is written. "
                         "Other media types: 415.", responses=WRITE,
             openapi_extra=request_body({
                 "text/csv": {"schema": {"type": "string", "description": "A header row naming the columns, then "
                                                                          "one row per recommendation."},
                              "example": IMPORT_CSV_EXAMPLE},
                 "application/json": {"schema": {"anyOf": [
                     {"type": "array", "items": component(RecommendationFieldsIn)},
                     {"type": "object", "required": ["recommendations"],
                      "properties": {"recommendations": {"type": "array", "items": component(RecommendationFieldsIn)}}},
                     {"type": "object", "required": ["items"],
                      "properties": {"items": {"type": "array", "items": component(RecommendationFieldsIn)}}}]},
                     "example": [RECOMMENDATION_FIELDS_EXAMPLE]}},
                 parameters=[query("issue", {"type": "boolean", "default": False}, "Issue them all at once."),
                             *IDEMPOTENCY_KEY]))
async def import_recommendations(report_id: Id, request: Request, principal: Caller,
                                 recs: Recommendations) -> Response:
    _require_acting_staff(principal)
    return await _forward_upload(request, principal, recs, f"/reports/{report_id}/recommendations/import")


# --- recommendations --------------------------------------------------------------------------------------------

@router.post("/recommendations", status_code=201, summary="Create a recommendation for one or many bodies",
             description="One tracked recommendation per recipient (draft, or issued with `issue: true`), sharing "
                         "a `group_id`. Unknown, merged or abolished recipients: 422 naming them.",
             tags=STAFF, response_model=Created, responses=WRITE,
             openapi_extra=json_body(RecommendationIn, {"report_id": "<report id>", **RECOMMENDATION_FIELDS_EXAMPLE},
                                     parameters=IDEMPOTENCY_KEY))
async def create_recommendations(request: Request, principal: Caller, recs: Recommendations) -> Response:
    _require_acting_staff(principal)
    return await recs.service.forward(request, principal, "/recommendations")


@router.get("/recommendations", summary="Filter, sort and page recommendations",
            description="Repeat a filter's key for several values. A body sees only its own.", tags=BODIES,
            response_model=RecommendationPage, openapi_extra=extra(FILTERS, [SORT, *PAGING]))
async def list_recommendations(request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, "/recommendations")


@router.get("/recommendations/summary", summary="Roll-up counts (same filters as the list)", tags=BODIES,
            description="Counts by state and escalation level, overdue, median days to complete; by body, region, "
                        "theme and report.", response_model=Summary, openapi_extra=extra(FILTERS))
async def summary(request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, "/recommendations/summary")


@router.get("/recommendations/export.csv", summary="Export the filtered list as CSV (streamed)", tags=BODIES,
            response_class=Response, openapi_extra=extra(FILTERS, [SORT]), responses={200: {
                "description": "One row per recommendation, with a header row.",
                "content": {"text/csv": {"schema": {"type": "string"}}},
                "headers": {"Content-Disposition": {"schema": {"type": "string"},
                                                    "description": 'attachment; filename="recommendations.csv"'}}}})
async def export_csv(request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, "/recommendations/export.csv", stream_response=True,
                                      response_headers=FILE_HEADERS)


@router.get("/recommendations/groups/{group_id}", summary="How many of a group's bodies are in each state",
            tags=BODIES, response_model=Group)
async def get_group(group_id: Id, request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, f"/recommendations/groups/{group_id}")


@router.get("/recommendations/{recommendation_id}", summary="Read one body's recommendation", tags=BODIES,
            description="Includes `state`, `version` (also the ETag), `due_date`, `escalation_level` and the "
                        "`allowed_actions` of the caller.", response_model=Recommendation,
            responses={200: {"headers": {"ETag": ETAG}}})
async def get_recommendation(recommendation_id: Id, request: Request, principal: Caller,
                             recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, f"/recommendations/{recommendation_id}")


@router.post("/recommendations/{recommendation_id}/transitions", summary="Take a lifecycle action", tags=BODIES,
             description="`action`: issue, start, submit, approve (needs `assessment`), return (needs `reason`), "
                         "supersede (needs `superseded_by`), withdraw (needs `reason`), reopen (needs `reason`). "
                         "Not allowed now: 409 naming `allowed_actions`; stale If-Match: 412.",
             response_model=Recommendation,
             responses={**WRITE, 200: {"headers": {"ETag": {**ETAG, "required": False}}}},  # not on a replay
             openapi_extra=json_body(TransitionIn, {"action": "return", "reason": "The evidence does not cover "
                                                                                  "custody"},
                                     parameters=[*IF_MATCH, *IDEMPOTENCY_KEY]))
async def transition(recommendation_id: Id, request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, f"/recommendations/{recommendation_id}/transitions")


@router.get("/recommendations/{recommendation_id}/history", summary="Everything that happened to it, in order",
            tags=BODIES, response_model=HistoryList)
async def history(recommendation_id: Id, request: Request, principal: Caller, recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, f"/recommendations/{recommendation_id}/history")


@router.post("/recommendations/{recommendation_id}/progress", status_code=201, summary="Post a progress update",
             description="JSON `{narrative, rag}` or multipart/form-data with `narrative`, `rag` and `files` "
                         "(repeatable). Files stream through; each is limited in size (413) and must be a PDF, "
                         "image, office document, CSV or text file by its content (415). Other media types: 415.",
             tags=BODIES, response_model=ProgressUpdate, responses=WRITE,
             openapi_extra=request_body({
                 "application/json": {"schema": component(ProgressIn),
                                      "example": {"narrative": "New training rolled out", "rag": "amber"}},
                 "multipart/form-data": {"schema": component(ProgressForm)}}, parameters=IDEMPOTENCY_KEY))
async def post_progress(recommendation_id: Id, request: Request, principal: Caller,
                        recs: Recommendations) -> Response:
    return await _forward_upload(request, principal, recs, f"/recommendations/{recommendation_id}/progress")


@router.get("/recommendations/{recommendation_id}/progress", summary="Progress updates with their evidence",
            tags=BODIES, response_model=ProgressList)
async def list_progress(recommendation_id: Id, request: Request, principal: Caller,
                        recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal, f"/recommendations/{recommendation_id}/progress")


@router.get("/recommendations/{recommendation_id}/evidence/{evidence_id}", summary="Download an evidence file",
            tags=BODIES, response_class=Response, responses={200: {
                "description": "The file, as uploaded, with its own media type (PDF, image, office document, "
                               "CSV or text).",
                "content": {media_type: {"schema": {"type": "string", "format": "binary"}}
                            for media_type in EVIDENCE_MEDIA_TYPES},
                "headers": {"Content-Disposition": {"schema": {"type": "string"}},
                            "ETag": {"schema": {"type": "string"}, "description": "The file's SHA-256."}}}})
async def download_evidence(recommendation_id: Id, evidence_id: Id, request: Request, principal: Caller,
                            recs: Recommendations) -> Response:
    response = await recs.service.forward(
        request, principal, f"/recommendations/{recommendation_id}/evidence/{evidence_id}", stream_response=True,
        response_headers=FILE_HEADERS)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.post("/recommendations/{recommendation_id}/extension-requests", status_code=201,
             summary="Ask for a later due date (the body), with a reason", tags=BODIES,
             response_model=ExtensionRequest, responses=WRITE,
             openapi_extra=json_body(ExtensionRequestIn, {"proposed_due_date": "2026-06-30",
                                                          "reason": "Supplier delay"}, parameters=IDEMPOTENCY_KEY))
async def request_extension(recommendation_id: Id, request: Request, principal: Caller,
                            recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal,
                                      f"/recommendations/{recommendation_id}/extension-requests")


@router.get("/recommendations/{recommendation_id}/extension-requests", summary="Extension requests, oldest first",
            tags=BODIES, response_model=ExtensionList)
async def list_extensions(recommendation_id: Id, request: Request, principal: Caller,
                          recs: Recommendations) -> Response:
    return await recs.service.forward(request, principal,
                                      f"/recommendations/{recommendation_id}/extension-requests")


@router.post("/recommendations/{recommendation_id}/extension-requests/{request_id}/decision", tags=STAFF,
             summary="Grant or refuse an extension request (inspectors, admins), with a reason",
             description="Granting moves the due date; only a pending request can be decided (409 otherwise).",
             response_model=ExtensionRequest, responses=WRITE,
             openapi_extra=json_body(ExtensionDecisionIn, {"granted": True, "reason": "Evidence of supplier failure"},
                                     parameters=IDEMPOTENCY_KEY))
async def decide_extension(recommendation_id: Id, request_id: Id, request: Request, principal: Caller,
                           recs: Recommendations) -> Response:
    _require_acting_staff(principal)
    return await recs.service.forward(
        request, principal, f"/recommendations/{recommendation_id}/extension-requests/{request_id}/decision")
