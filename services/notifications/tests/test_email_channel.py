"""E-mail channels against a real aiosmtpd server, and the mbox file for local runs."""

import email
import email.message
import email.policy
import logging
import mailbox
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from rectrack.notifications.channels import (
    MailboxFileChannel,
    Message,
    Recipient,
    SmtpEmailChannel,
)

SENDER = "rectrack@inspectorate.example"
MESSAGE = Message(
    subject="New recommendation for West Midlands Police: PEEL-2023-WMP-R3",
    text="The inspectorate has issued a recommendation.\n",
    html="<p>The inspectorate has issued a <strong>recommendation</strong>.</p>",
    data={"kind": "recommendation_issued"},
)
RECIPIENT = Recipient(channel="email", address="liaison@wmp.example", name="Pat Liaison")


def _parse(raw: bytes) -> email.message.EmailMessage:
    # SMTP carries CRLF line endings; compare bodies as the text we sent.
    return email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CollectingHandler:
    """Accepts every message and keeps its envelope."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


class RefusingHandler(CollectingHandler):
    """Refuses every recipient with the given reply."""

    def __init__(self, reply: str) -> None:
        super().__init__()
        self.reply = reply

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list) -> str:
        return self.reply


def _serve(handler: CollectingHandler) -> Iterator[tuple[CollectingHandler, int]]:
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[tuple[CollectingHandler, int]]:
    yield from _serve(CollectingHandler())


@pytest.fixture
def rejecting_smtp_server() -> Iterator[tuple[CollectingHandler, int]]:
    yield from _serve(RefusingHandler("550 5.1.1 No such mailbox"))


@pytest.fixture
def deferring_smtp_server() -> Iterator[tuple[CollectingHandler, int]]:
    yield from _serve(RefusingHandler("451 4.3.0 Try again later"))


def _channel(port: int) -> SmtpEmailChannel:
    return SmtpEmailChannel("127.0.0.1", port, SENDER, timeout=5)


@pytest.mark.asyncio
async def test_smtp_delivers_a_multipart_message(
    smtp_server: tuple[CollectingHandler, int],
) -> None:
    handler, port = smtp_server
    result = await _channel(port).send(RECIPIENT, MESSAGE, delivery_id="evt-1:liaison:email")

    assert result.ok, result.detail
    assert len(handler.envelopes) == 1
    envelope = handler.envelopes[0]
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == ["liaison@wmp.example"]
    received = _parse(envelope.content)
    assert received["To"] == "Pat Liaison <liaison@wmp.example>"
    assert received["From"] == SENDER
    assert received["Subject"] == MESSAGE.subject
    assert received["Message-ID"] == "<evt-1-liaison-email@inspectorate.example>"
    assert received["X-Rectrack-Delivery"] == "evt-1:liaison:email"
    assert received.get_content_type() == "multipart/alternative"
    assert received.get_body(("plain",)).get_content() == MESSAGE.text
    assert received.get_body(("html",)).get_content().strip() == MESSAGE.html


@pytest.mark.asyncio
async def test_smtp_message_id_is_stable_across_retries(
    smtp_server: tuple[CollectingHandler, int],
) -> None:
    handler, port = smtp_server
    channel = _channel(port)
    for _ in range(2):
        assert (await channel.send(RECIPIENT, MESSAGE, delivery_id="evt-2")).ok
    ids = {_parse(e.content)["Message-ID"] for e in handler.envelopes}
    assert len(handler.envelopes) == 2 and len(ids) == 1


@pytest.mark.asyncio
async def test_smtp_text_only_message(smtp_server: tuple[CollectingHandler, int]) -> None:
    handler, port = smtp_server
    plain = Message(subject="Plain", text="Just text.\n", html=None, data={})
    assert (await _channel(port).send(RECIPIENT, plain, delivery_id="evt-3")).ok
    received = _parse(handler.envelopes[0].content)
    assert received.get_content_type() == "text/plain"
    assert received.get_content() == "Just text.\n"


@pytest.mark.asyncio
async def test_smtp_recipient_rejected_with_550_is_permanent(
    rejecting_smtp_server: tuple[CollectingHandler, int],
) -> None:
    handler, port = rejecting_smtp_server
    result = await _channel(port).send(RECIPIENT, MESSAGE, delivery_id="evt-4")
    assert not result.ok
    assert result.permanent
    assert result.detail is not None and "550" in result.detail
    assert handler.envelopes == []


@pytest.mark.asyncio
async def test_smtp_recipient_deferred_with_451_is_retryable(
    deferring_smtp_server: tuple[CollectingHandler, int],
) -> None:
    _, port = deferring_smtp_server
    result = await _channel(port).send(RECIPIENT, MESSAGE, delivery_id="evt-5")
    assert not result.ok
    assert not result.permanent
    assert result.detail is not None and "451" in result.detail


@pytest.mark.asyncio
async def test_smtp_unreachable_server_is_retryable() -> None:
    result = await _channel(_free_port()).send(RECIPIENT, MESSAGE, delivery_id="evt-6")
    assert not result.ok
    assert not result.permanent


@pytest.mark.asyncio
async def test_header_injection_is_a_permanent_failure(
    smtp_server: tuple[CollectingHandler, int],
) -> None:
    handler, port = smtp_server
    evil = Recipient(channel="email", address="a@b.example", name="Eve\r\nBcc: x@evil.example")
    result = await _channel(port).send(evil, MESSAGE, delivery_id="evt-7")
    assert not result.ok and result.permanent
    assert handler.envelopes == []


@pytest.mark.asyncio
async def test_mailbox_file_channel_writes_readable_mbox(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "var" / "mail" / "outbox.mbox"
    with caplog.at_level(logging.INFO):
        channel = MailboxFileChannel(path, sender=SENDER)
    assert str(path) in caplog.text

    first = await channel.send(RECIPIENT, MESSAGE, delivery_id="evt-8")
    second_message = Message(subject="Second", text="Another.\n", html=None, data={})
    second = await channel.send(RECIPIENT, second_message, delivery_id="evt-9")
    assert first.ok and second.ok

    box = mailbox.mbox(path)
    try:
        stored = [_parse(m.as_bytes()) for m in box]
    finally:
        box.close()
    assert [m["Subject"] for m in stored] == [MESSAGE.subject, "Second"]
    assert stored[0]["To"] == "Pat Liaison <liaison@wmp.example>"
    assert stored[0]["Message-ID"] == "<evt-8@inspectorate.example>"
    assert stored[0].get_body(("plain",)).get_content() == MESSAGE.text
    assert "<strong>recommendation</strong>" in stored[0].get_body(("html",)).get_content()
    assert path.read_text().startswith(f"From {SENDER} ")
