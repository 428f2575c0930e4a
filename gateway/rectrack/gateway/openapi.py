"""OpenAPI documentation shared by every gateway route: the problem+json error answers.

Use it on a router so every route of the module documents its errors:

    router = APIRouter(prefix="/api/v1", tags=["bodies"], responses=PROBLEM_RESPONSES)

(or `responses=problem_responses(401, 404, ...)` on one route for a narrower list). Every error the gateway
answers is RFC 9457 problem+json; the `Problem` schema below is registered in the spec's components by
`install_openapi(app)` (called by main.create_app).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field

from rectrack.common.errors import PROBLEM_MEDIA_TYPE, TYPE_PREFIX

PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"


class Problem(BaseModel):
    """An RFC 9457 problem document; some problems add members (e.g. `errors`, `current_version`, `service`)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {
        "type": TYPE_PREFIX + "not-found", "title": "Not found", "status": 404, "detail": "no such body",
        "instance": "/api/v1/bodies/no-such-force"}})

    type: str = Field(description=f"Stable problem type: `{TYPE_PREFIX}<slug>`.")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = Field(default=None, description="The path the client asked for.")


class HealthStatus(BaseModel):
    """Liveness answer."""

    status: str


class Readiness(BaseModel):
    """Readiness answer: each downstream service's state."""

    status: str = Field(examples=["ready"])
    checks: dict[str, str] = Field(examples=[{"bodies": "ok", "recommendations": "ok", "notifications": "ok"}])


_ERRORS: dict[int, tuple[str, str, str]] = {
    # status: (slug, title, when)
    400: ("malformed-json", "Malformed JSON", "The request body is not valid JSON."),
    401: ("unauthenticated", "Authentication required", "No valid bearer token or API key."),
    403: ("forbidden", "Forbidden", "Authenticated, but the role or the credential may not do this."),
    404: ("not-found", "Not found", "No such object, or it belongs to another body (never told apart)."),
    409: ("conflict", "Conflict", "Not allowed in the current state (the answer names the allowed actions), "
                                  "or a retry with the same Idempotency-Key is still in flight."),
    412: ("precondition-failed", "Precondition failed", "The If-Match version is stale; read it again."),
    413: ("payload-too-large", "Payload too large", "The request body exceeds the size limit."),
    422: ("validation", "Invalid request", "The request does not meet the schema (`errors` says where), "
                                           "or an Idempotency-Key was reused with a different body."),
    429: ("rate-limited", "Too many requests", "Over the rate limit; retry after `Retry-After` seconds."),
    502: ("bad-gateway", "Bad gateway", "A downstream service answered something unexpected."),
    503: ("service-unavailable", "Service unavailable", "A downstream service is unavailable (named in `service`)."),
    504: ("gateway-timeout", "Gateway timeout", "A downstream service did not answer in time."),
}

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}}


def _response(status: int) -> dict[str, Any]:
    slug, title, when = _ERRORS[status]
    example = {"type": TYPE_PREFIX + slug, "title": title, "status": status, "detail": when.rstrip("."),
               "instance": "/api/v1/..."}
    doc: dict[str, Any] = {"description": when, "content": {
        PROBLEM_MEDIA_TYPE: {"schema": {"$ref": PROBLEM_SCHEMA_REF}, "example": example}}}
    if status in (429, 503):
        doc["headers"] = _RETRY_AFTER
    return doc


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented problem+json answers for these statuses (all of them when none is named)."""
    return {status: _response(status) for status in (statuses or tuple(_ERRORS))}


# Every error a public route can answer. The brief's core set is 401, 403, 404, 409, 412, 422 and 429; 400
# (malformed JSON), 413 (too large) and 502/503/504 (a downstream service failed) can happen on any route too.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = problem_responses()
# For read-only routes (no body: no 400, 409, 412 or 413).
READ_RESPONSES: dict[int | str, dict[str, Any]] = problem_responses(401, 403, 404, 422, 429, 502, 503, 504)


def install_openapi(app: FastAPI) -> None:
    """Generate the spec with the Problem schema in its components (the responses above refer to it)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                               description=app.description, routes=app.routes, tags=app.openapi_tags,
                               servers=app.servers)
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
