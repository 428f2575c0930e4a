"""Helpers of the notifications tests: event builders, publishing real envelopes, a real SMTP server, polling."""

from __future__ import annotations

import asyncio
import email
import email.policy
import hashlib
import hmac
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from nats.js import JetStreamContext
from pydantic import BaseModel
from sqlalchemy import func, select

from rectrack.common import messaging
from rectrack.common.app import ServiceRuntime
from rectrack.common.auth import PRINCIPAL_HEADER, InternalSigner, Principal
from rectrack.common.contracts import (
    ActorV1,
    BodyV1,
    ContactV1,
    EscalatedV1,
    RecommendationIssuedV1,
    RecommendationSnapshotV1,
)
from rectrack.common.db import new_id
from rectrack.common.events import subjects
from rectrack.common.events.envelope import Envelope
from rectrack.common.testing import free_port
from rectrack.notifications.config import NotificationsSettings

ADMIN = Principal(kind="staff", subject="ada", name="Ada Admin", role="admin")
INSPECTOR = Principal(kind="staff", subject="ian", name="Ian Inspector", role="inspector")
VIEWER = Principal(kind="staff", subject="vic", name="Vic Viewer", role="viewer")
STAFF_ACTOR = ActorV1(kind="staff", subject="ian", name="Ian Inspector")


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """The README's webhook verification snippet, verbatim (body = raw request bytes)."""
    ts, sig = headers["X-Rectrack-Timestamp"], headers["X-Rectrack-Signature"].removeprefix("v1=")
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return abs(time.time() - int(ts)) <= 300 and hmac.compare_digest(expected, sig)


def body_principal(body_id: str) -> Principal:
    """A user of one body."""
    return Principal(kind="body", subject=f"{body_id}-user", body_id=body_id)


def contact(name: str, address: str, role: str) -> ContactV1:
    """A body contact."""
    return ContactV1(name=name, email=address, role=role)  # type: ignore[arg-type]


def body(body_id: str, contacts: list[ContactV1], *, webhook_url: str | None = None, secret: str | None = None,
         version: int = 1, name: str | None = None) -> BodyV1:
    """A body.created payload."""
    return BodyV1(id=body_id, code=body_id, name=name or body_id.replace("-", " ").title(), kind="police_force",
                  status="active", version=version, contacts=contacts, webhook_url=webhook_url,
                  webhook_secret=secret)


def snapshot(body_id: str, *, reference: str | None = None, owner: str = "ian", state: str = "issued",
             due: date = date(2031, 3, 7)) -> RecommendationSnapshotV1:
    """One body's recommendation."""
    return RecommendationSnapshotV1(
        id=new_id(), group_id=new_id(), report_id=new_id(), reference=reference or f"PEEL-{new_id()[:6]}-R1",
        title="Improve the response to domestic abuse", kind="recommendation", body_id=body_id,
        body_name=None, state=state, version=2, due_date=due, owner=owner)  # type: ignore[arg-type]


def issued(rec: RecommendationSnapshotV1) -> RecommendationIssuedV1:
    """A recommendation.issued payload."""
    return RecommendationIssuedV1(recommendation=rec, actor=STAFF_ACTOR)


def escalated(rec: RecommendationSnapshotV1, level: str, previous: str) -> EscalatedV1:
    """A recommendation.escalated payload."""
    assert rec.due_date is not None
    return EscalatedV1(recommendation=rec, level=level, previous_level=previous,  # type: ignore[arg-type]
                       due_date=rec.due_date, as_of=datetime(2031, 6, 20, tzinfo=UTC))


class Publisher:
    """Publishes real envelopes to JetStream, as the producing services' relays do."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    @classmethod
    async def connect(cls, nats_url: str) -> tuple[Any, Publisher]:
        nc = await messaging.connect(nats_url, name="notifications-test")
        js = nc.jetstream()
        await messaging.ensure_streams(js)
        return nc, cls(js)

    async def publish(self, event_type: str, subject: str, payload: BaseModel) -> Envelope:
        envelope = Envelope(type=event_type, source="test", subject=subject, data=payload.model_dump(mode="json"))
        await self.js.publish(event_type, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.id})
        return envelope

    async def body(self, payload: BodyV1, event_type: str = subjects.BODY_CREATED) -> Envelope:
        return await self.publish(event_type, payload.id, payload)

    async def recommendation(self, event_type: str, payload: Any) -> Envelope:
        return await self.publish(event_type, payload.recommendation.id, payload)


async def eventually(check: Callable[[], Awaitable[Any]], *, within: float = 15.0, interval: float = 0.05) -> Any:
    """Poll until check() returns something truthy; its last answer otherwise fails the test."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within}s (last: {result!r})")
        await asyncio.sleep(interval)


class CollectingSmtp:
    """A real SMTP server (aiosmtpd) on a free port that keeps every message it accepts."""

    def __init__(self) -> None:
        self.port = free_port()
        self.envelopes: list[Any] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def start(self) -> CollectingSmtp:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def messages(self) -> list[tuple[list[str], EmailMessage]]:
        """(envelope recipients, parsed message) of everything received."""
        return [(list(env.rcpt_tos), email.message_from_bytes(env.original_content.replace(b"\r\n", b"\n"),
                                                               policy=email.policy.default))
                for env in list(self.envelopes)]

    def recipients(self) -> list[str]:
        return sorted(r for env in list(self.envelopes) for r in env.rcpt_tos)


@dataclass
class NotificationsService:
    """The app under test, its client, how to sign principals for it, and a publisher."""

    client: httpx.AsyncClient
    runtime: ServiceRuntime
    url: str
    signer: InternalSigner
    bus: Publisher

    def as_(self, principal: Principal) -> dict[str, str]:
        """Headers that make a request come from this principal through the gateway."""
        return {PRINCIPAL_HEADER: self.signer.sign(principal)}

    async def count(self, model: Any, *conditions: Any) -> int:
        async with self.runtime.db.read() as session:
            return int((await session.execute(select(func.count()).select_from(model).where(*conditions)))
                       .scalar_one())

    async def rows(self, model: Any, *conditions: Any) -> list[Any]:
        async with self.runtime.db.read() as session:
            return list((await session.execute(select(model).where(*conditions))).scalars().all())

    async def outbox_events(self, event_type: str) -> list[dict[str, Any]]:
        table = self.runtime.outbox_table
        async with self.runtime.db.read() as session:
            rows = (await session.execute(select(table.c.payload).where(table.c.event_type == event_type))).all()
        return [Envelope.model_validate_json(r.payload).data for r in rows]


def settings_for(url: str, smtp_port: int, **extra: object) -> NotificationsSettings:
    """Service settings for tests: mail to the test SMTP server, tiny backoff so retries happen within a test."""
    values: dict[str, object] = dict(
        database_url=url, smtp_host="127.0.0.1", smtp_port=smtp_port, smtp_timeout=5.0, webhook_timeout=0.5,
        max_attempts=4, retry_base_seconds=0.05, retry_max_seconds=0.2, worker_sweep_seconds=0.5,
        delivery_lease_seconds=10.0, mail_from="rectrack@inspectorate.example.org")
    values.update(extra)
    return NotificationsSettings(**values)  # type: ignore[arg-type]


class ThreadedServer:
    """Serves an ASGI app with uvicorn on 127.0.0.1:<free port> from a thread with its own event loop."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=lambda: asyncio.run(self.server.serve()), daemon=True,
                                       name=f"uvicorn-{self.port}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
