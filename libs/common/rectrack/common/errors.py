"""RFC 9457 problem+json errors with stable types; no stack trace ever reaches a client."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:rectrack:problem:"

_SLUG_BY_STATUS = {400: "bad-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
                   405: "method-not-allowed", 406: "not-acceptable", 409: "conflict", 410: "gone",
                   411: "length-required", 412: "precondition-failed", 413: "payload-too-large",
                   415: "unsupported-media-type", 422: "validation", 428: "precondition-required",
                   429: "rate-limited", 502: "bad-gateway", 503: "unavailable", 504: "gateway-timeout"}


class Problem(Exception):
    """An error the client should see, as problem+json."""

    def __init__(self, status: int, slug: str, title: str, detail: str | None = None, *,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extra = extra

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The JSON document."""
        doc: dict[str, Any] = {"type": TYPE_PREFIX + self.slug, "title": self.title, "status": self.status}
        if self.detail:
            doc["detail"] = self.detail
        if instance:
            doc["instance"] = instance
        doc.update(self.extra)
        return doc


def not_found(what: str = "resource") -> Problem:
    """The one answer for absent and for not-yours alike, so existence never leaks."""
    return Problem(404, "not-found", "Not found", f"no such {what}")


def problem_response(problem: Problem, instance: str | None = None) -> JSONResponse:
    """Render a Problem."""
    return JSONResponse(problem.body(instance), status_code=problem.status, media_type=PROBLEM_MEDIA_TYPE,
                        headers=problem.headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    return [{"loc": [str(p) for p in err.get("loc", ())], "msg": str(err.get("msg", "")), "type": err.get("type")}
            for err in exc.errors()]


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error an app can raise through problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        if any(e["type"] == "json_invalid" for e in errors):
            problem = Problem(400, "malformed-json", "Malformed JSON", "the request body is not valid JSON",
                              errors=errors)
        else:
            problem = Problem(422, "validation", "Invalid request", "the request does not meet the schema",
                              errors=errors)
        return problem_response(problem, request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
        problem = Problem(status, _SLUG_BY_STATUS.get(status, "error"), title, detail,
                          headers=getattr(exc, "headers", None))
        return problem_response(problem, request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        problem = Problem(500, "internal", "Internal error", "the error was logged; quote the request id")
        return problem_response(problem, request.url.path)
