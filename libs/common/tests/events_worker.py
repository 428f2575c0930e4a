"""A process that relays or consumes test events, so fault tests can SIGKILL it at a named crash point.

Run as: python events_worker.py relay|consume DATABASE_URL NATS_URL SUBJECT DURABLE
"""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy import Column, Integer, String, Table, func, insert, select

from rectrack.common import messaging
from rectrack.common.db import Database, make_metadata
from rectrack.common.events.consumer import EventConsumer
from rectrack.common.events.envelope import Envelope
from rectrack.common.events.outbox import define_event_tables
from rectrack.common.events.relay import OutboxRelay
from rectrack.common.events.subjects import BODY_STREAM

metadata = make_metadata()
OUTBOX, INBOX = define_event_tables(metadata)
EFFECTS = Table("effects", metadata, Column("id", Integer, primary_key=True), Column("event_id", String(64)))


async def record_effect(session, envelope: Envelope) -> None:  # type: ignore[no-untyped-def]
    """The handler's one effect: a row per handled event (no unique key, so a second effect would show)."""
    await session.execute(insert(EFFECTS).values(event_id=envelope.id))


async def count_effects(db: Database, event_id: str) -> int:
    """How many times the handler took effect for an event."""
    async with db.read() as session:
        return int((await session.execute(
            select(func.count()).select_from(EFFECTS).where(EFFECTS.c.event_id == event_id))).scalar_one())


def make_consumer(db: Database, js, subject: str, durable: str, **kwargs) -> EventConsumer:  # type: ignore[no-untyped-def]
    """The consumer under test, on the BODY stream filtered to one subject."""
    return EventConsumer(name=durable, db=db, inbox=INBOX, js=js, stream=BODY_STREAM, handler=kwargs.pop(
        "handler", record_effect), filter_subject=subject, **kwargs)


async def main(mode: str, url: str, nats_url: str, subject: str, durable: str) -> None:
    db = Database(url)
    nc = await messaging.connect(nats_url, name="events-worker")
    js = nc.jetstream()
    if mode == "relay":
        await OutboxRelay(db, OUTBOX, js).publish_pending()
    else:
        consumer = make_consumer(db, js, subject, durable, ack_wait=1.0)
        sub = await consumer.subscribe()
        for message in await sub.fetch(1, timeout=10):
            await consumer.process(message)
    await nc.close()
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:6]))
