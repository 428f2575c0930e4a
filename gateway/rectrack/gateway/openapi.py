"""OpenAPI documentation shared by every gateway route: the problem+json error answers, documented request
bodies and parameters.

Use it on a router so every route of the module documents its errors:

    router = APIRouter(prefix="/api/v1", tags=["bodies"], responses=PROBLEM_RESPONSES)

(or `responses=problem_responses(401, 404, ...)` on one route for a narrower list). Every error the gateway
answers is RFC 9457 problem+json; the `Problem` schema below is registered in the spec's components by
`install_openapi(app)` (called by main.create_app), which also replaces any application/json 422 FastAPI
documents by itself with the problem+json one the gateway really answers.

Routes that pass their body through unparsed document it with `openapi_extra=json_body(Model, example)` (or
`request_body({media type: {...}})` for several types): `component(Model)` refers to a pydantic model that
`install_openapi` puts in the spec's components, so clients (and the contract tests) see the real schema.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from rectrack.common.errors import PROBLEM_MEDIA_TYPE, TYPE_PREFIX

PROBLEM_SCHEMA_REF = "#/components/schemas/Problem"
_REF_TEMPLATE = "#/components/schemas/{model}"
# Models referred to by hand-written parts of the spec (request bodies); install_openapi adds their schemas.
_COMPONENTS: dict[str, type[BaseModel]] = {}


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
    415: ("unsupported-media-type", "Unsupported media type", "The body's or a file's type is not accepted."),
    422: ("validation", "Invalid request", "The request does not meet the schema (`errors` says where), "
                                           "or an Idempotency-Key was reused with a different body."),
    428: ("precondition-required", "Precondition required", "Send If-Match: \"<version>\" (or a `version` "
                                                             "field) to change this."),
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


# Every error a public route can answer: 401, 403, 404, 409, 412, 422 and 429; also 400 (malformed JSON), 413
# (too large), 415 (type refused), 428 (If-Match missing) and 502/503/504 (a downstream service failed).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = problem_responses()
# For read-only routes (no body: no 400, 409, 412 or 413).
READ_RESPONSES: dict[int | str, dict[str, Any]] = problem_responses(401, 403, 404, 422, 429, 502, 503, 504)


# --- documented request bodies and parameters of routes that pass the request through -------------------------

def component(model: type[BaseModel]) -> dict[str, str]:
    """A `$ref` to the model's schema; install_openapi registers it in the spec's components."""
    known = _COMPONENTS.setdefault(model.__name__, model)
    if known is not model:
        raise ValueError(f"two documented models are named {model.__name__}")
    return {"$ref": _REF_TEMPLATE.format(model=model.__name__)}


def request_body(content: dict[str, dict[str, Any]], *, description: str | None = None,
                 parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`openapi_extra` documenting a required request body ({media type: media type object}) and parameters."""
    body: dict[str, Any] = {"required": True, "content": content}
    if description:
        body["description"] = description
    doc: dict[str, Any] = {"requestBody": body}
    if parameters:
        doc["parameters"] = parameters
    return doc


def json_body(model: type[BaseModel], example: Any = None, *,
              parameters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`openapi_extra` documenting an application/json body that must meet `model`."""
    media: dict[str, Any] = {"schema": component(model)}
    if example is not None:
        media["example"] = example
    return request_body({"application/json": media}, parameters=parameters)


def query(name: str, schema: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    """An optional query parameter (an array schema means the key may repeat: `?state=a&state=b`)."""
    param: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


def extra(*parts: dict[str, Any] | list[dict[str, Any]]) -> dict[str, Any]:
    """`openapi_extra` from request bodies and lists of parameters, merged."""
    doc: dict[str, Any] = {}
    for part in parts:
        if isinstance(part, list):
            doc.setdefault("parameters", []).extend(part)
        else:
            doc.setdefault("parameters", []).extend(part.get("parameters", []))
            doc.update({k: v for k, v in part.items() if k != "parameters"})
    return doc


PAGING: list[dict[str, Any]] = [
    query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}, "Page size."),
    query("offset", {"type": "integer", "minimum": 0, "maximum": 10_000_000, "default": 0}, "Items to skip."),
]
IF_MATCH: list[dict[str, Any]] = [{
    "name": "If-Match", "in": "header", "required": False, "schema": {"type": "string", "maxLength": 40},
    "description": 'The version you read, e.g. `"3"` (bare digits also do); a stale one gets 412.'}]
IDEMPOTENCY_KEY: list[dict[str, Any]] = [{
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": "Retry safely: the same key and body replay the first answer (with `Idempotent-Replayed: "
                   "true`); the same key with another body gets 422; one still in flight 409. Keys last 24 h."}]


# --- the spec --------------------------------------------------------------------------------------------------

def _refs(node: Any) -> set[str]:
    """Every `$ref` under a node of the spec."""
    if isinstance(node, dict):
        found = {node["$ref"]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def _problem_only_422(spec: dict[str, Any]) -> None:
    """Replace FastAPI's own application/json 422 (HTTPValidationError) by the problem+json the app answers."""
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if responses and "422" in responses and PROBLEM_MEDIA_TYPE not in responses["422"].get("content", {}):
                responses["422"] = _response(422)
    schemas = spec.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        others = {k: v for k, v in schemas.items() if k != name}
        if _REF_TEMPLATE.format(model=name) not in _refs(spec.get("paths", {})) | _refs(others):
            schemas.pop(name, None)


def install_openapi(app: FastAPI) -> None:
    """Generate the spec with the Problem schema and the documented request models in its components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, openapi_version=app.openapi_version,
                               description=app.description, routes=app.routes, tags=app.openapi_tags,
                               servers=app.servers)
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = Problem.model_json_schema(ref_template=_REF_TEMPLATE)
            if _COMPONENTS:
                _, defs = models_json_schema([(m, "validation") for m in _COMPONENTS.values()],
                                             ref_template=_REF_TEMPLATE)
                for name, schema in defs.get("$defs", {}).items():
                    if schemas.setdefault(name, schema) != schema:
                        raise ValueError(f"two different schemas are named {name}")
            _problem_only_422(spec)
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
