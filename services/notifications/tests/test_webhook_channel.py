"""Webhook channel against a real HTTP server: signed delivery, and which failures are retried."""

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from httpx_aiohttp import HttpxAiohttpClient
from multidict import CIMultiDict

from rectrack.notifications import signing
from rectrack.notifications.channels import Message, Recipient, WebhookChannel

SECRET = "whsec_body_secret"
NOW = 1_700_000_000
MESSAGE = Message(
    subject="Escalation",
    text="text",
    html=None,
    data={"kind": "escalation", "reference": "PEEL-2023-WMP-R3", "level": "escalated", "n": "é"},
)


@dataclass
class Received:
    """What the test server saw."""

    headers: CIMultiDict[str]  # header names are case-insensitive; transports differ in case
    body: bytes


@dataclass
class HookServer:
    """A real aiohttp server answering each path with a fixed status."""

    base_url: str
    received: list[Received] = field(default_factory=list)


@pytest_asyncio.fixture
async def hook_server() -> AsyncIterator[HookServer]:
    server = HookServer(base_url="")

    async def hook(request: web.Request) -> web.Response:
        server.received.append(Received(CIMultiDict(request.headers), await request.read()))
        status = int(request.match_info["status"])
        if status in (301, 302, 307, 308):
            raise web.HTTPFound("/hook/204")
        return web.Response(status=status, text="" if status < 300 else f"status {status}")

    app = web.Application()
    app.router.add_post("/hook/{status}", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.base_url = f"http://{host}:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def hanging_url() -> AsyncIterator[str]:
    """A server that accepts the connection, reads the request and never answers."""
    release = asyncio.Event()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)
        await release.wait()
        writer.close()

    server = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        release.set()
        server.close()
        await server.wait_closed()


# Both the plain httpx client and the aiohttp-backed one from the common client factory.
CLIENTS: dict[str, Callable[[], httpx.AsyncClient]] = {
    "httpx": httpx.AsyncClient,
    "httpx-aiohttp": HttpxAiohttpClient,
}


@pytest_asyncio.fixture(params=sorted(CLIENTS))
async def client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    async with CLIENTS[request.param]() as http_client:
        yield http_client


def _recipient(url: str, secret: str | None = SECRET) -> Recipient:
    return Recipient(channel="webhook", address=url, name="WMP systems", secret=secret)


@pytest.mark.asyncio
async def test_delivers_signed_json_the_body_can_verify(hook_server: HookServer, client: httpx.AsyncClient) -> None:
    channel = WebhookChannel(client, timeout=5, clock=lambda: NOW)
    result = await channel.send(
        _recipient(f"{hook_server.base_url}/hook/204"), MESSAGE, delivery_id="evt-1:wmp:webhook"
    )

    assert result.ok and not result.permanent, result.detail
    [received] = hook_server.received
    assert received.body == json.dumps(MESSAGE.data).encode()
    assert json.loads(received.body) == MESSAGE.data
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["X-Rectrack-Delivery"] == "evt-1:wmp:webhook"
    assert received.headers["X-Rectrack-Timestamp"] == str(NOW)
    assert signing.verify(SECRET, received.headers, received.body, now=NOW + 10)
    assert not signing.verify("wrong", received.headers, received.body, now=NOW + 10)
    assert not signing.verify(SECRET, received.headers, received.body + b" ", now=NOW + 10)


@pytest.mark.asyncio
async def test_signature_uses_the_real_clock_by_default(hook_server: HookServer, client: httpx.AsyncClient) -> None:
    channel = WebhookChannel(client, timeout=5)
    result = await channel.send(_recipient(f"{hook_server.base_url}/hook/200"), MESSAGE, delivery_id="evt-2")
    assert result.ok
    [received] = hook_server.received
    assert signing.verify(SECRET, received.headers, received.body, now=int(time.time()))


@pytest.mark.asyncio
async def test_no_secret_means_no_signature(hook_server: HookServer, client: httpx.AsyncClient) -> None:
    channel = WebhookChannel(client, timeout=5)
    result = await channel.send(
        _recipient(f"{hook_server.base_url}/hook/202", secret=None), MESSAGE, delivery_id="evt-3"
    )
    assert result.ok
    [received] = hook_server.received
    assert "X-Rectrack-Signature" not in received.headers
    assert "X-Rectrack-Timestamp" not in received.headers
    assert received.headers["X-Rectrack-Delivery"] == "evt-3"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("status", "permanent"),
    [(500, False), (503, False), (408, False), (429, False), (410, True), (400, True), (404, True)],
)
async def test_failures_are_classified_by_status(
    hook_server: HookServer, client: httpx.AsyncClient, status: int, permanent: bool
) -> None:
    channel = WebhookChannel(client, timeout=5)
    result = await channel.send(_recipient(f"{hook_server.base_url}/hook/{status}"), MESSAGE, delivery_id="evt-4")
    assert not result.ok
    assert result.permanent is permanent
    assert result.detail is not None and str(status) in result.detail
    assert len(hook_server.received) == 1  # the channel never retries by itself


@pytest.mark.asyncio
async def test_redirects_are_not_followed(hook_server: HookServer, client: httpx.AsyncClient) -> None:
    channel = WebhookChannel(client, timeout=5)
    result = await channel.send(_recipient(f"{hook_server.base_url}/hook/302"), MESSAGE, delivery_id="evt-5")
    assert not result.ok and result.permanent
    assert len(hook_server.received) == 1


@pytest.mark.asyncio
@pytest.mark.timeout(20)
async def test_a_server_that_never_answers_is_retryable_after_the_timeout(
    hanging_url: str, client: httpx.AsyncClient
) -> None:
    channel = WebhookChannel(client, timeout=0.5)
    result = await channel.send(_recipient(hanging_url), MESSAGE, delivery_id="evt-6")
    assert not result.ok
    assert not result.permanent
    assert result.detail is not None and "no answer" in result.detail


@pytest.mark.asyncio
async def test_connection_refused_is_retryable(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = WebhookChannel(client, timeout=5)
    result = await channel.send(_recipient(f"http://127.0.0.1:{port}/hook"), MESSAGE, delivery_id="evt-7")
    assert not result.ok and not result.permanent


@pytest.mark.asyncio
@pytest.mark.parametrize("url", ["ftp://files.example/hook", "not a url"])
async def test_an_unusable_url_is_permanent(client: httpx.AsyncClient, url: str) -> None:
    channel = WebhookChannel(client, timeout=5)
    result = await channel.send(_recipient(url), MESSAGE, delivery_id="evt-8")
    assert not result.ok and result.permanent


@pytest.mark.asyncio
async def test_a_payload_that_is_not_json_is_permanent(client: httpx.AsyncClient) -> None:
    channel = WebhookChannel(client, timeout=5)
    bad = Message(subject="s", text="t", html=None, data={"when": object()})
    result = await channel.send(_recipient("http://127.0.0.1:9/hook"), bad, delivery_id="evt-9")
    assert not result.ok and result.permanent
