"""The notifications process is SIGKILLed while 500 events flow; after a restart every notice exists exactly once.

The service runs for real (uvicorn in a subprocess, SQLite file, the default mbox e-mail channel). Deliveries
are exactly-once in the database; an e-mail whose sender died mid-send may be written once more after the
lease runs out (never more), carrying the same delivery id so a reader can drop it.
"""

from __future__ import annotations

import asyncio
import mailbox
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from notifications_testkit import Publisher, body, contact, eventually, issued, snapshot
from sqlalchemy import func, select

from rectrack.common.db import Database
from rectrack.common.events import subjects
from rectrack.common.events.envelope import Envelope
from rectrack.common.testing import NatsServer, free_port, migrated_database, wait_for_port
from rectrack.notifications.main import MIGRATIONS, RECOMMENDATIONS_DURABLE
from rectrack.notifications.models import OUTBOX, Delivery, KnownBody, Notification

EVENTS = 500
BODY_ID = "greater-manchester-police"
LIAISONS = ("lou@gmp.example.org", "max@gmp.example.org")


def start_service(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "rectrack.notifications.main:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, stdout=out, stderr=subprocess.STDOUT)
    wait_for_port(port, timeout=30)
    return process


async def count(db: Database, model: object, *conditions: object) -> int:
    async with db.read() as session:
        return int((await session.execute(select(func.count()).select_from(model).where(*conditions)))  # type: ignore[arg-type]
                   .scalar_one())


@pytest.mark.slow
async def test_sigkill_mid_stream_loses_and_duplicates_nothing(own_nats: NatsServer, tmp_path: Path) -> None:
    url = await migrated_database("sqlite", MIGRATIONS, tmp_path)
    data_dir = tmp_path / "data"
    env = {**os.environ, "RECTRACK_PROFILE": "dev", "RECTRACK_LOG_JSON": "false", "RECTRACK_NATS_URL": own_nats.url,
           "RECTRACK_DATA_DIR": str(data_dir), "RECTRACK_RELAY_SWEEP_SECONDS": "0.5",
           "RECTRACK_NOTIFICATIONS_DATABASE_URL": url, "RECTRACK_NOTIFICATIONS_DELIVERY_LEASE_SECONDS": "2",
           "RECTRACK_NOTIFICATIONS_WORKER_SWEEP_SECONDS": "0.5"}
    env.pop("RECTRACK_NOTIFICATIONS_SMTP_HOST", None)
    log = tmp_path / "service.log"
    nc, bus = await Publisher.connect(own_nats.url)
    # The durable as the service would make it, but with a 3 s ack wait instead of 30 s, so the messages the
    # killed process had fetched and not acknowledged come back within the test's patience.
    await bus.js.add_consumer("RECOMMENDATION", ConsumerConfig(
        durable_name=RECOMMENDATIONS_DURABLE, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
        ack_wait=3, max_ack_pending=1000, filter_subject="recommendation.>"))
    db = Database(url)
    process = start_service(env, log)
    try:
        await bus.body(body(BODY_ID, [contact("Lou", LIAISONS[0], "liaison"), contact("Max", LIAISONS[1], "liaison"),
                                      contact("Chief", "chief@gmp.example.org", "chief_officer")]))
        await eventually(lambda: count(db, KnownBody), within=30)
        published = [(await bus.recommendation(subjects.RECOMMENDATION_ISSUED, issued(snapshot(BODY_ID)))).id
                     for _ in range(EVENTS)]

        async def part_way() -> int:
            n = await count(db, Notification)
            return n if n > 0 else 0
        seen = await eventually(part_way, within=30, interval=0.01)
        process.send_signal(signal.SIGKILL)
        assert process.wait(10) == -signal.SIGKILL
        assert seen < EVENTS, "the process finished before it could be killed part-way"
        at_kill = await count(db, Notification)
        assert at_kill < EVENTS

        process = start_service(env, log)

        async def done() -> bool:
            return (await count(db, Notification) == EVENTS
                    and await count(db, Delivery, Delivery.status == "delivered") == 3 * EVENTS)
        await eventually(done, within=60, interval=0.2)

        async with db.read() as session:
            notices = (await session.execute(select(Notification.event_id, Notification.inbox_key))).all()
            rows = (await session.execute(select(Delivery.id, Delivery.event_id, Delivery.channel,
                                                 Delivery.recipient, Delivery.status, Delivery.attempts))).all()
            outcomes = (await session.execute(select(OUTBOX.c.payload).where(
                OUTBOX.c.event_type == subjects.NOTIFICATION_DELIVERED))).scalars().all()
        assert sorted(n.event_id for n in notices) == sorted(published)
        assert {n.inbox_key for n in notices} == {f"body:{BODY_ID}"}
        expected = {(event_id, channel, recipient) for event_id in published for channel, recipient in
                    [("email", LIAISONS[0]), ("email", LIAISONS[1]), ("inbox", f"body:{BODY_ID}")]}
        assert sorted((r.event_id, r.channel, r.recipient) for r in rows) == sorted(expected)
        assert {r.status for r in rows} == {"delivered"}

        # One notification.delivered per delivery, recorded with the status change that said so.
        delivered_ids = Counter(Envelope.model_validate_json(p).data["delivery_id"] for p in outcomes)
        assert set(delivered_ids) == {r.id for r in rows} and set(delivered_ids.values()) == {1}

        # Every e-mail is in the mbox; one whose sender died mid-write may be there twice, never more.
        box = mailbox.mbox(data_dir / "mail" / "outbox.mbox")
        try:
            written = Counter(message["X-Rectrack-Delivery"] for message in box)
        finally:
            box.close()
        emails = {r.id for r in rows if r.channel == "email"}
        assert set(written) == emails
        assert max(written.values()) <= 2
        assert "outbox.mbox" in log.read_text()  # the service says where local mail goes
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, 15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        await db.dispose()
        await nc.close()
