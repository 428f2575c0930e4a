"""/api/v1/reports and /api/v1/recommendations: reports, per-body recommendations, lifecycle, progress and evidence,
extension requests, history, queries, summary and export.

The gateway authenticates every call and passes it through; the recommendations service enforces who may see
and do what (a body's principal gets 404 for another body's recommendation, in lists, files and JSON alike).
Uploads stream through to the service as they arrive, under the gateway's request size limit (413 beyond it);
downloads and CSV exports stream back.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime
from enum import Enum
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

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

router = APIRouter(prefix="/api/v1", tags=["recommendations"], responses=READ_RESPONSES)
# Who uses a route, besides its area tag: bodies' systems, or staff only.
BODIES: list[str | Enum] = ["bodies"]
STAFF: list[str | Enum] = ["staff"]
WRITE = PROBLEM_RESPONSES  # a write can also answer 400, 409, 412, 413, 415 and 428

Id = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
FILE_HEADERS = (*FORWARDED_RESPONSE_HEADERS, "X-Content-Type-Options", "Content-Security-Policy")
ETAG = {"schema": {"type": "string"}, "required": True, "description": 'The version, e.g. `"3"`: send it back as '
                                                                     "If-Match to change it."}
# What an evidence file can be (the service judges each upload by its content and refuses anything else).
EVIDENCE_MEDIA_TYPES = (
    "application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "image/tiff", "text/csv", "text/plain",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/msword", "application/vnd.ms-excel", "application/vnd.ms-powerpoint",
    "application/vnd.oasis.opendocument.text", "application/vnd.oasis.opendocument.spreadsheet")

# --- documented shapes: the service validates the same (the gateway passes bodies through unparsed) --------------

ReportKind = Literal["peel", "fire_and_rescue", "thematic", "joint", "national_body", "other"]
ReportLevel = Literal["local", "regional", "national"]
Kind = Literal["recommendation", "cause_of_concern", "area_for_improvement"]
Priority = Literal["low", "medium", "high"]
Rag = Literal["red", "amber", "green"]
Action = Literal["issue", "start", "submit", "approve", "return", "supersede", "withdraw", "reopen"]
State = Literal["draft", "issued", "in_progress", "awaiting_review", "complete", "superseded", "withdrawn"]
Level = Literal["none", "due_soon", "overdue", "escalated", "engage"]
Long = Annotated[str, Field(max_length=20_000)]
Theme = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9 _\-/&]*$")]


# Required texts: not blank (the service trims leading and trailing spaces), at most so many characters.
Text120 = Annotated[str, Field(min_length=1, max_length=120, pattern=r"\S")]
Text200 = Annotated[str, Field(min_length=1, max_length=200, pattern=r"\S")]
Text500 = Annotated[str, Field(min_length=1, max_length=500, pattern=r"\S")]
LongText = Annotated[str, Field(min_length=1, max_length=20_000, pattern=r"\S")]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")  # the service refuses unknown fields (422)


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")  # answers may gain fields


class ReportIn(_In):
    """A new inspection report."""

    title: Text500
    kind: ReportKind
    level: ReportLevel
    published_on: date | None = None
    url: Annotated[str, Field(max_length=2000, pattern=r"^https?://\S+$")] | None = None


class RecommendationFieldsIn(_In):
    """One recommendation of a report, tracked once per recipient body (an import row)."""

    kind: Kind = "recommendation"
    reference: Text120
    title: Text500
    text: LongText
    themes: list[Theme] = Field(default=[], max_length=30)
    priority: Priority = "medium"
    benefits: Long | None = None
    risks: Long | None = None
    closure_criteria: Long | None = None
    due_date: date | None = None
    owner: Text200 | None = None
    recipient_body_ids: list[Text120] = Field(min_length=1, max_length=500)
    issue: bool = Field(default=False, description="Issue at once (else a draft).")


class RecommendationIn(RecommendationFieldsIn):
    """A new recommendation of a report for one or many bodies."""

    report_id: Annotated[str, Field(min_length=1, max_length=64)]


class TransitionIn(_In):
    """A lifecycle action; `version` instead of If-Match."""

    action: Action
    reason: Long | None = None
    assessment: Long | None = None
    superseded_by: Annotated[str, Field(max_length=64)] | None = None
    version: int | None = Field(default=None, ge=1)


class ProgressIn(_In):
    """A progress update without files."""

    narrative: LongText
    rag: Rag | None = None


class ProgressForm(BaseModel):
    """A progress update with evidence files (multipart/form-data)."""

    narrative: LongText
    rag: Rag | SkipJsonSchema[None] = Field(default=None, json_schema_extra=_no_default)
    files: list[bytes] = Field(default=[], description="Evidence files (repeat the part): PDF, images, office "
                                                      "documents, CSV or text, judged by their content.")


class ExtensionRequestIn(_In):
    """A request for a later due date."""

    proposed_due_date: date
    reason: LongText


class ExtensionDecisionIn(_In):
    """Staff's decision on a pending extension request."""

    granted: bool
    reason: LongText


class Actor(_Out):
    """Who did it."""

    kind: str | None = None
    subject: str | None = None
    name: str | None = None


class Report(_Out):
    """An inspection report."""

    id: str
    title: str
    kind: ReportKind
    level: ReportLevel
    published_on: date | None
    url: str | None
    created_at: datetime
    version: int


class ReportPage(_Out):
    """A page of reports, newest first."""

    items: list[Report]
    total: int
    limit: int
    offset: int


class Recommendation(_Out):
    """One body's recommendation as the caller sees it (a detail answer adds `text`, `assessment`, ...)."""

    id: str
    group_id: str
    report_id: str
    body_id: str
    body_name: str | None
    kind: Kind
    reference: str
    title: str
    themes: list[str]
    priority: Priority
    state: State
    version: int
    due_date: date | None
    overdue: bool
    escalation_level: Level
    allowed_actions: list[Action] = Field(description="What the caller may do now.")


class RecommendationPage(_Out):
    """A page of recommendations."""

    items: list[Recommendation]
    total: int
    limit: int
    offset: int


class Created(_Out):
    """The recommendations made: one per recipient body."""

    items: list[Recommendation]
    total: int


class Group(_Out):
    """How many of a group's bodies are in each state, and each body's row."""

    group_id: str
    total: int
    by_state: dict[str, int]
    by_escalation_level: dict[str, int]
    items: list[dict[str, Any]]


class Summary(_Out):
    """Roll-up counts of the filtered set (a body's own only)."""

    as_of: date
    total: int
    by_state: dict[str, int]
    by_escalation_level: dict[str, int]
    overdue: int
    median_days_to_complete: float | None
    by_body: list[dict[str, Any]]
    by_region: list[dict[str, Any]]
    by_theme: list[dict[str, Any]]
    by_report: list[dict[str, Any]]


class HistoryEntry(_Out):
    """One thing that happened."""

    seq: int
    at: datetime
    actor: Actor
    action: str
    from_state: str | None
    to_state: str | None


class Evidence(_Out):
    """An evidence file's metadata; `download_url` fetches it."""

    id: str
    filename: str
    media_type: str
    size: int
    sha256: str
    download_url: str


class ProgressUpdate(_Out):
    """A progress update and its evidence."""

    id: str
    recommendation_id: str
    narrative: str
    rag: Rag | None
    created_at: datetime
    author: Actor
    evidence: list[Evidence]


class ExtensionRequest(_Out):
    """A request for a later due date, and its decision."""

    id: str
    recommendation_id: str
    status: Literal["pending", "granted", "refused"]
    proposed_due_date: date
    previous_due_date: date | None
    reason: str
    requested_by: Actor
    decided_by: Actor | None
    decision_reason: str | None


class HistoryList(_Out):
    items: list[HistoryEntry]
    total: int


class ProgressList(_Out):
    items: list[ProgressUpdate]
    total: int


class ExtensionList(_Out):
    items: list[ExtensionRequest]
    total: int


def _many(name: str, items: dict[str, Any], description: str) -> dict[str, Any]:
    return query(name, {"type": "array", "items": items, "maxItems": 200}, description + " (repeatable)")


def _enum(values: Any) -> dict[str, Any]:
    return {"type": "string", "enum": list(values.__args__)}


SORT = query("sort", {"type": "string", "maxLength": 200}, "Comma-separated keys, `-` for descending: "
             "due_date, updated_at, reference, ... (default `due_date`).")
FILTERS: list[dict[str, Any]] = [
    _many("body_id", {"type": "string"}, "Bodies"), _many("region", {"type": "string"}, "Regions"),
    _many("body_kind", {"type": "string"}, "Kinds of body"), _many("report_id", {"type": "string"}, "Reports"),
    query("group_id", {"type": "string", "maxLength": 64}, "One group (the same recommendation to many bodies)."),
    _many("kind", _enum(Kind), "Kinds"), _many("theme", {"type": "string"}, "Themes"),
    _many("state", _enum(State), "States"), _many("escalation_level", _enum(Level), "Escalation levels"),
    _many("priority", _enum(Priority), "Priorities"),
    query("overdue", {"type": "boolean"}, "Open and past its due date."),
    query("due_before", {"type": "string", "format": "date"}), query("due_after", {"type": "string", "format": "date"}),
    query("q", {"type": "string", "maxLength": 200}, "Text in reference or title."),
]


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
