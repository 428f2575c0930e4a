"""ServiceClient: one pooled, signed, time-limited HTTP client per downstream service, and pass-through forwarding.

Every call carries the gateway-signed principal (X-Rectrack-Principal) and the request id. A downstream
problem+json comes back to the caller with its status; a service that is down answers 503 and one that is
too slow 504, both naming the service.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import aiohttp
import httpx
from fastapi import Request
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from rectrack.common.auth import PRINCIPAL_HEADER, InternalSigner, Principal
from rectrack.common.context import REQUEST_ID_HEADER, current_correlation_id
from rectrack.common.errors import PROBLEM_MEDIA_TYPE, TYPE_PREFIX, Problem
from rectrack.common.http_client import service_client

PUBLIC_PREFIX = "/api/v1"
FORWARDED_REQUEST_HEADERS: tuple[str, ...] = ("If-Match", "Idempotency-Key", "Content-Type")
# Idempotent-Replayed: "true" marks an answer a service replayed for a retried Idempotency-Key.
FORWARDED_RESPONSE_HEADERS: tuple[str, ...] = ("ETag", "Location", "Content-Disposition", "Retry-After",
                                               "Cache-Control", "Idempotent-Replayed")
_PROBLEM_CORE = ("type", "title", "status", "detail", "instance")
_UNSET: Any = object()
_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def unavailable(service: str, exc: BaseException) -> Problem:
    """The problem a transport failure towards a service becomes: 504 when it was slow, 503 when unreachable."""
    slow = isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout, TimeoutError,
                            aiohttp.ServerTimeoutError)) and not isinstance(exc, httpx.ConnectTimeout)
    if slow:
        return Problem(504, "gateway-timeout", "Gateway timeout", f"the {service} service did not answer in time",
                       service=service)
    return Problem(503, "service-unavailable", "Service unavailable", f"the {service} service is unavailable",
                   headers={"Retry-After": "5"}, service=service)


def downstream_problem(service: str, response: httpx.Response) -> Problem:
    """A downstream error answer as a Problem: its problem+json and status pass through."""
    try:
        doc = response.json()
    except ValueError:
        doc = None
    if not isinstance(doc, dict) or not isinstance(doc.get("title"), str):
        return Problem(502, "bad-gateway", "Bad gateway",
                       f"the {service} service answered {response.status_code} without a problem document",
                       service=service)
    kind = str(doc.get("type") or "")
    slug = kind[len(TYPE_PREFIX):] if kind.startswith(TYPE_PREFIX) else "error"
    headers = {h: response.headers[h] for h in ("Retry-After", "WWW-Authenticate") if h in response.headers}
    extra = {k: v for k, v in doc.items() if k not in _PROBLEM_CORE}
    detail = doc.get("detail") if isinstance(doc.get("detail"), str) else None
    return Problem(response.status_code, slug, doc["title"], detail, headers=headers or None, **extra)


def forwarded_request_headers(request: Request, names: Iterable[str] = FORWARDED_REQUEST_HEADERS) -> dict[str, str]:
    """The named headers of the request to pass on; 400 for a value that is not printable ASCII (HTTP clients
    refuse to send one, so it would otherwise fail as a 500)."""
    headers = {}
    for name in names:
        value = request.headers.get(name)
        if value is None:
            continue
        if not (value.isascii() and value.isprintable()):
            raise Problem(400, "bad-header", "Bad header", f"{name} must be printable ASCII", header=name)
        headers[name] = value
    return headers


def _public_instance(content: bytes, path: str) -> bytes:
    """A downstream problem document whose `instance` names the public path the client asked for."""
    try:
        doc = json.loads(content)
    except ValueError:
        return content
    if not isinstance(doc, dict) or "instance" not in doc:
        return content
    doc["instance"] = path
    return json.dumps(doc).encode()


class ServiceClient:
    """Calls one downstream service on behalf of a principal."""

    def __init__(self, name: str, base_url: str, signer: InternalSigner, timeout: float = 5.0) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.timeout = timeout
        self._http: httpx.AsyncClient | None = None

    @property
    def http(self) -> httpx.AsyncClient:
        """The pooled client (made on first use, inside the running loop)."""
        if self._http is None:
            self._http = service_client(self.base_url, timeout=self.timeout)
        return self._http

    async def aclose(self) -> None:
        """Close the pool."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def headers(self, principal: Principal | None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The signed principal and the request id, plus any extra headers."""
        headers = {REQUEST_ID_HEADER: current_correlation_id() or uuid.uuid4().hex}
        if principal is not None:
            headers[PRINCIPAL_HEADER] = self.signer.sign(principal)
        if extra:
            headers.update(extra)
        return headers

    async def send(self, method: str, path: str, *, principal: Principal | None, params: Any = None,
                   json: Any = _UNSET, content: Any = None, headers: Mapping[str, str] | None = None,
                   stream: bool = False) -> httpx.Response:
        """One raw exchange; transport failures become 503/504 problems naming the service."""
        kwargs: dict[str, Any] = {"params": params, "headers": self.headers(principal, headers)}
        if json is not _UNSET:
            kwargs["json"] = json
        elif content is not None:
            kwargs["content"] = content
        try:
            request = self.http.build_request(method, path, **kwargs)
            return await self.http.send(request, stream=stream)
        except (TimeoutError, httpx.TransportError, aiohttp.ClientError, OSError) as exc:
            raise unavailable(self.name, exc) from None

    async def request(self, method: str, path: str, *, principal: Principal | None, params: Any = None,
                      json: Any = _UNSET, headers: Mapping[str, str] | None = None) -> Any:
        """The downstream JSON answer (None for an empty one), or the downstream problem raised."""
        response = await self.send(method, path, principal=principal, params=params, json=json, headers=headers)
        if response.status_code >= 400:
            raise downstream_problem(self.name, response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            raise Problem(502, "bad-gateway", "Bad gateway", f"the {self.name} service answered without JSON",
                          service=self.name) from None

    async def forward(self, request: Request, principal: Principal | None, path: str, *, method: str | None = None,
                      params: Any = _UNSET, json: Any = _UNSET, stream_body: bool = False,
                      request_headers: Iterable[str] = FORWARDED_REQUEST_HEADERS,
                      response_headers: Iterable[str] = FORWARDED_RESPONSE_HEADERS,
                      stream_response: bool = False, public_prefix: str = PUBLIC_PREFIX,
                      rewrite_location: Callable[[str], str] | None = None) -> Response:
        """Pass a request through and mirror the answer: status, body, content type and selected headers.

        The body sent is `json` when given, else the incoming body streamed (`stream_body`, for uploads) or
        read whole. A Location starting with "/" gets the public prefix (or `rewrite_location`'s answer).
        """
        method = method or request.method
        if params is _UNSET:
            params = list(request.query_params.multi_items())
        content: Any = None
        extra: dict[str, str] = {}
        if method in _WRITE_METHODS:  # on a read, If-Match, Idempotency-Key and Content-Type mean nothing
            extra = forwarded_request_headers(request, request_headers)
            if json is _UNSET:
                content = request.stream() if stream_body else (await request.body() or None)
        response = await self.send(method, path, principal=principal, params=params, json=json, content=content,
                                   headers=extra, stream=stream_response)
        headers = {}
        for name in response_headers:
            value = response.headers.get(name)
            if value is None:
                continue
            if name.lower() == "location" and value.startswith("/"):
                value = rewrite_location(value) if rewrite_location else public_prefix + value
            headers[name] = value
        media_type = response.headers.get("content-type")
        if stream_response:
            for name in ("Content-Length", "Content-Encoding"):
                if name in response.headers:
                    headers[name] = response.headers[name]
            return StreamingResponse(response.aiter_raw(), status_code=response.status_code, headers=headers,
                                     media_type=media_type, background=BackgroundTask(response.aclose))
        content = response.content
        if media_type and media_type.startswith(PROBLEM_MEDIA_TYPE):
            content = _public_instance(content, request.url.path)
        return Response(content=content, status_code=response.status_code, headers=headers, media_type=media_type)

    async def check_health(self) -> None:
        """Raise unless the service answers its liveness check."""
        response = await self.send("GET", "/healthz", principal=None)
        if response.status_code != 200:
            raise Problem(503, "service-unavailable", "Service unavailable",
                          f"the {self.name} service is not healthy", service=self.name)


def get_service_client(request: Request, name: str) -> ServiceClient:
    """The app's client of one downstream service."""
    return request.app.state.clients[name]  # type: ignore[no-any-return]


def service_dependency(name: str) -> Callable[[Request], ServiceClient]:
    """A FastAPI dependency returning the app's client of the named service."""

    def dependency(request: Request) -> ServiceClient:
        return get_service_client(request, name)

    dependency.__name__ = f"{name}_client"
    return dependency
