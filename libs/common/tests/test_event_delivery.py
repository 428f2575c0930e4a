"""The event backbone survives crashes: no event lost, none duplicated, poison parked on the dead-letter subject."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from rectrack.common import messaging
from rectrack.common.db import Database
from rectrack.common.events.envelope import Envelope
from rectrack.common.events.outbox import Outbox
from rectrack.common.events.relay import OutboxRelay
from rectrack.common.events.subjects import DEADLETTER_STREAM
from rectrack.common.testing import create_postgres_database, drop_postgres_database, postgres_admin_url

WORKER_PATH = Path(__file__).with_name("events_worker.py")
_spec = importlib.util.spec_from_file_location("events_worker", WORKER_PATH)
assert _spec and _spec.loader
worker: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker)


@pytest.fixture
async def database(database_backend: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A database holding the outbox, inbox and effects tables."""
    admin = postgres_admin_url()
    if database_backend == "postgresql" and admin:
        url = await create_postgres_database(admin)
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'events.db'}"
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(worker.metadata.create_all)
    yield db
    await db.dispose()
    if database_backend == "postgresql" and admin:
        await drop_postgres_database(admin, url)


@pytest.fixture
async def js(nats_server: Any) -> AsyncIterator[Any]:
    """A JetStream context on the test NATS server with the rectrack streams declared."""
    nc = await messaging.connect(nats_server.url, name="test")
    context = nc.jetstream()
    await messaging.ensure_streams(context)
    yield context
    await nc.close()


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel a background task and wait until it has ended."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def run_worker(mode: str, db: Database, nats_url: str, subject: str, durable: str, crash_at: str) -> int:
    """Run the worker in its own process with a crash point armed; returns its exit code."""
    env = {**os.environ, "RECTRACK_CRASH_AT": crash_at}
    done = subprocess.run([sys.executable, str(WORKER_PATH), mode, db.url, nats_url, subject, durable],
                          env=env, timeout=60, capture_output=True)
    return done.returncode


async def messages_on(js: Any, subject: str) -> list[Any]:
    """Every message the stream holds on a subject, read by an ephemeral consumer."""
    sub = await js.pull_subscribe(subject, durable=None)
    found: list[Any] = []
    try:
        while True:
            batch = await sub.fetch(100, timeout=1)
            for message in batch:
                await message.ack()
            found.extend(batch)
    except TimeoutError:
        pass
    await sub.unsubscribe()
    return found


async def test_relay_killed_after_publish_before_mark_sent_publishes_once(database: Database, js: Any,
                                                                           nats_server: Any) -> None:
    subject = f"body.test-{uuid.uuid4().hex[:8]}"
    outbox = Outbox(worker.OUTBOX, source="test")
    async with database.transaction() as session:
        envelope = await outbox.add(session, subject, "b-1", {"n": 1})

    code = run_worker("relay", database, nats_server.url, subject, "unused", "relay.after_publish")
    assert code == -9, "the relay process should have been killed at the crash point"
    async with database.read() as session:
        sent_at = (await session.execute(select(worker.OUTBOX.c.sent_at))).scalar_one()
    assert sent_at is None, "the row must stay unsent when the relay dies before marking it"

    assert await OutboxRelay(database, worker.OUTBOX, js).publish_pending() == 1
    async with database.read() as session:
        assert (await session.execute(select(worker.OUTBOX.c.sent_at))).scalar_one() is not None

    seen = await messages_on(js, subject)
    assert [Envelope.from_bytes(m.data).id for m in seen] == [envelope.id]


async def test_relay_is_woken_by_commit(database: Database, js: Any) -> None:
    subject = f"body.test-{uuid.uuid4().hex[:8]}"
    relay = OutboxRelay(database, worker.OUTBOX, js, sweep_seconds=60)
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.2)
        sub = await js.subscribe(subject)
        async with database.transaction() as session:
            await Outbox(worker.OUTBOX, source="test").add(session, subject, "b-1", {})
        message = await sub.next_msg(timeout=3)  # far sooner than the 60 s sweep
        assert Envelope.from_bytes(message.data).type == subject
    finally:
        await stop(task)


async def test_consumer_killed_after_commit_before_ack_has_no_second_effect(database: Database, js: Any,
                                                                             nats_server: Any) -> None:
    subject = f"body.test-{uuid.uuid4().hex[:8]}"
    durable = f"test-{uuid.uuid4().hex[:8]}"
    envelope = Envelope(type=subject, source="test", subject="b-1")
    await js.publish(subject, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.id})

    code = run_worker("consume", database, nats_server.url, subject, durable, f"consumer.{durable}.after_commit")
    assert code == -9
    assert await worker.count_effects(database, envelope.id) == 1

    consumer = worker.make_consumer(database, js, subject, durable, ack_wait=1.0)
    sub = await consumer.subscribe()
    redelivered = await sub.fetch(1, timeout=10)  # comes back once the dead worker's ack_wait runs out
    assert redelivered[0].metadata.num_delivered == 2
    await consumer.process(redelivered[0])
    assert await worker.count_effects(database, envelope.id) == 1
    info = await js.consumer_info("BODY", durable)
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_poison_message_ends_on_dead_letter_subject(database: Database, js: Any) -> None:
    subject = f"body.test-{uuid.uuid4().hex[:8]}"
    durable = f"test-{uuid.uuid4().hex[:8]}"
    attempts: list[int] = []

    async def always_fails(_session: Any, _envelope: Envelope) -> None:
        attempts.append(1)
        raise RuntimeError("cannot handle this")

    consumer = worker.make_consumer(database, js, subject, durable, handler=always_fails, max_deliver=3,
                                    retry_delays=(0.05,))
    envelope = Envelope(type=subject, source="test", subject="b-1")
    await js.publish(subject, envelope.to_bytes())
    task = asyncio.create_task(consumer.run())
    try:
        dead = await js.subscribe(f"deadletter.{durable}.>", stream=DEADLETTER_STREAM.name)
        parked = await dead.next_msg(timeout=15)
    finally:
        await stop(task)
    assert Envelope.from_bytes(parked.data).id == envelope.id
    assert "cannot handle this" in parked.headers["Rectrack-Error"]
    assert len(attempts) == 3
    assert await worker.count_effects(database, envelope.id) == 0, "a failed handler's transaction rolls back"
    info = await js.consumer_info("BODY", durable)
    assert info.num_ack_pending == 0


async def test_unparseable_message_is_dead_lettered_at_once(database: Database, js: Any) -> None:
    subject = f"body.test-{uuid.uuid4().hex[:8]}"
    durable = f"test-{uuid.uuid4().hex[:8]}"
    consumer = worker.make_consumer(database, js, subject, durable)
    await js.publish(subject, b"{not json")
    task = asyncio.create_task(consumer.run())
    try:
        dead = await js.subscribe(f"deadletter.{durable}.>", stream=DEADLETTER_STREAM.name)
        parked = await dead.next_msg(timeout=10)
    finally:
        await stop(task)
    assert parked.data == b"{not json"
    assert parked.subject == f"deadletter.{durable}.unknown"
