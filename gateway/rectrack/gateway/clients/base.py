"""ServiceClient: one pooled, signed, time-limited HTTP client per downstream service, and pass-through forwarding.

Every call carries the gateway-signed principal (X-Rectrack-Principal) and the request id. A downstream
problem+json comes back to the caller with its status; a service that is down answers 503 and one that is
too slow 504, both naming the service.

The transport is a raw aiohttp.ClientSession per service (made lazily inside the running loop): it served about
three times the requests per second of httpx's API on the httpx-aiohttp transport (bench/gateway_clients.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Mapping
from typing import Any, Protocol

import aiohttp
import httpx
from fastapi import Request
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse

from rectrack.common.auth import PRINCIPAL_HEADER, InternalSigner, Principal
from rectrack.common.context import REQUEST_ID_HEADER, current_correlation_id
from rectrack.common.errors import PROBLEM_MEDIA_TYPE, TYPE_PREFIX, Problem

PUBLIC_PREFIX = "/api/v1"
FORWARDED_REQUEST_HEADERS: tuple[str, ...] = ("If-Match", "Idempotency-Key", "Content-Type")
# Idempotent-Replayed: "true" marks an answer a service replayed for a retried Idempotency-Key.
FORWARDED_RESPONSE_HEADERS: tuple[str, ...] = ("ETag", "Location", "Content-Disposition", "Retry-After",
                                               "Cache-Control", "Idempotent-Replayed")
_PROBLEM_CORE = ("type", "title", "status", "detail", "instance")
_UNSET: Any = object()
_WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
_CONNECT_TIMEOUTS = (httpx.ConnectTimeout, aiohttp.ConnectionTimeoutError)


def unavailable(service: str, exc: BaseException) -> Problem:
    """The problem a transport failure towards a service becomes: 504 when it was slow, 503 when unreachable."""
    slow = isinstance(exc, (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout, TimeoutError,
                            aiohttp.ServerTimeoutError)) and not isinstance(exc, _CONNECT_TIMEOUTS)
    if slow:
        return Problem(504, "gateway-timeout", "Gateway timeout", f"the {service} service did not answer in time",
                       service=service)
    return Problem(503, "service-unavailable", "Service unavailable", f"the {service} service is unavailable",
                   headers={"Retry-After": "5"}, service=service)


class Answer(Protocol):
    """What downstream_problem reads of an answer (a ServiceResponse or an httpx.Response)."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def json(self) -> Any: ...


class ServiceResponse:
    """A downstream answer: status, case-insensitive headers and, unless streamed, the whole body.

    Offers the part of httpx.Response the gateway uses: `status_code`, `headers`, `content`, `json()`, and for a
    streamed answer `aiter_raw()` (the body as it arrives, undecoded) and `aclose()` (releases the connection).
    """

    __slots__ = ("_content", "_raw", "headers", "status_code")

    def __init__(self, raw: aiohttp.ClientResponse, content: bytes | None = None) -> None:
        self._raw = raw
        self._content = content
        self.status_code: int = raw.status
        self.headers: Mapping[str, str] = raw.headers

    @property
    def content(self) -> bytes:
        """The whole body (not available on a streamed answer)."""
        if self._content is None:
            raise RuntimeError("a streamed answer's content was not read")
        return self._content

    def json(self) -> Any:
        """The body parsed as JSON (ValueError when it is not)."""
        return json.loads(self.content)

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive."""
        async for chunk in self._raw.content.iter_any():
            yield chunk

    async def aclose(self) -> None:
        """Give the connection back (or drop it when the body was not read to the end)."""
        self._raw.release()


class _BodyStream:
    """A streamed request body that remembers whether reading it failed (e.g. over the size limit)."""

    def __init__(self, source: AsyncIterable[bytes]) -> None:
        self.source = source
        self.failed: BaseException | None = None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.source:
                yield chunk
        except Exception as exc:
            self.failed = exc
            raise


def _json_body(value: Any) -> bytes:
    """A JSON request body, encoded the way httpx encodes one."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _query_value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def _query(params: Any) -> Any:
    """Query parameters as aiohttp takes them, rendered the way httpx renders them."""
    if params is None or isinstance(params, str):
        return params
    pairs = params.items() if isinstance(params, Mapping) else params
    query: list[tuple[str, str]] = []
    for key, value in pairs:
        if isinstance(value, (list, tuple)):
            query.extend((str(key), _query_value(item)) for item in value)
        else:
            query.append((str(key), _query_value(value)))
    return query


def downstream_problem(service: str, response: Answer) -> Problem:
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

    def __init__(self, name: str, base_url: str, signer: InternalSigner, timeout: float = 5.0,
                 max_connections: int = 200) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.timeout = timeout
        self.max_connections = max_connections
        connect = min(timeout, 2.0)
        # A whole exchange gets `timeout`; a streamed one (upload, download, export) `timeout` per read instead.
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=timeout, sock_connect=connect)
        self._stream_timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_connect=connect,
                                                     sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pooled session (made on first use, inside the running loop)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=self.max_connections,
                                             keepalive_timeout=30.0, force_close=False)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, trust_env=False)
        return self._session

    async def aclose(self) -> None:
        """Close the pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

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
                   stream: bool = False) -> ServiceResponse:
        """One raw exchange; transport failures become 503/504 problems naming the service.

        `content` is bytes or an async iterable of bytes (streamed as it comes). With `stream` the answer's body is
        left unread: iterate `aiter_raw()` and `aclose()` it.
        """
        sent = self.headers(principal, headers)
        has_type = any(name.lower() == "content-type" for name in sent)
        data: Any = None
        body: _BodyStream | None = None
        if json is not _UNSET:
            if json is not None:
                data = _json_body(json)
                if not has_type:
                    sent["Content-Type"] = "application/json"
        elif content is not None:
            if isinstance(content, (bytes, bytearray, memoryview, str)):
                data = content.encode() if isinstance(content, str) else bytes(content)
            else:
                body = _BodyStream(content)
                data = body.__aiter__()
        kwargs: dict[str, Any] = {"headers": sent, "data": data}
        if params is not None:
            kwargs["params"] = _query(params)
        if data is not None and "Content-Type" not in sent and not has_type:
            kwargs["skip_auto_headers"] = ("Content-Type",)  # send no type rather than application/octet-stream
        if stream or body is not None:
            kwargs["timeout"] = self._stream_timeout
        if stream:
            kwargs["auto_decompress"] = False  # aiter_raw passes the bytes (and Content-Encoding) through as sent
        try:
            raw = await self.session.request(method, self.base_url + path, **kwargs)
            if stream:
                return ServiceResponse(raw)
            try:
                return ServiceResponse(raw, await raw.read())
            finally:
                raw.release()
        except (TimeoutError, httpx.TransportError, aiohttp.ClientError, OSError) as exc:
            if body is not None and body.failed is not None:
                raise body.failed from None  # the incoming body's own failure (e.g. 413) wins
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
