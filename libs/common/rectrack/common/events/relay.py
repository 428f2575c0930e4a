"""The outbox relay: publishes committed events to JetStream and marks them sent only after the PubAck."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy import Table, select, update

from rectrack.common.db import CommitSignal, Database, utcnow
from rectrack.common.events.outbox import PENDING_FLAG
from rectrack.common.faults import crash_point

log = logging.getLogger(__name__)


class OutboxRelay:
    """Woken by every commit that wrote an event; also sweeps at start and periodically."""

    def __init__(self, db: Database, table: Table, js: JetStreamContext, *, sweep_seconds: float = 5.0,
                 batch_size: int = 500, publish_timeout: float = 5.0) -> None:
        self.db = db
        self.table = table
        self.js = js
        self.sweep_seconds = sweep_seconds
        self.batch_size = batch_size
        self.publish_timeout = publish_timeout
        self.commits = CommitSignal(db, PENDING_FLAG)

    def wake(self) -> None:
        """Ask the relay to publish now (thread-safe)."""
        self.commits.set()

    async def run(self) -> None:
        """Publish pending events for ever: on wake-up, and every sweep interval."""
        self.commits.bind()
        delay = 0.0
        while True:
            self.commits.event.clear()
            try:
                await self.publish_pending()
                delay = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down or database busy: the rows wait, nothing is lost
                delay = min(max(delay * 2, 0.2), self.sweep_seconds)
                log.warning("outbox relay could not publish: %s", exc)
                await asyncio.sleep(delay)
                continue
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that races a wake-up.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.sweep_seconds):
                    await self.commits.event.wait()

    async def publish_pending(self) -> int:
        """Publish every unsent event in order; returns how many were published."""
        total = 0
        while True:
            published = await self._publish_batch()
            total += published
            if published < self.batch_size:
                return total

    async def _publish_batch(self) -> int:
        t = self.table
        query = select(t.c.seq, t.c.event_id, t.c.event_type, t.c.payload).where(t.c.sent_at.is_(None))
        query = query.order_by(t.c.seq).limit(self.batch_size)
        if self.db.sqlite:
            # One writer at a time on SQLite: read, publish, then mark in a short write transaction;
            # a second relay racing here publishes again and JetStream drops the duplicate by Nats-Msg-Id.
            async with self.db.read() as session:
                rows = (await session.execute(query)).all()
            sent = await self._publish_rows(rows)
            if sent:
                async with self.db.transaction() as session:
                    await self._mark_sent(session, sent)
            return len(sent)
        async with self.db.transaction() as session:
            rows = (await session.execute(query.with_for_update(skip_locked=True))).all()
            sent = await self._publish_rows(rows)
            await self._mark_sent(session, sent)
        return len(sent)

    async def _publish_rows(self, rows: Any) -> list[int]:
        sent: list[int] = []
        for row in rows:
            try:
                await self.js.publish(
                    row.event_type,
                    row.payload.encode(),
                    timeout=self.publish_timeout,
                    headers={"Nats-Msg-Id": row.event_id},
                )
            except Exception:
                if sent:
                    return sent  # mark what got through; the rest waits for the next pass
                raise
            crash_point("relay.after_publish")
            sent.append(row.seq)
        return sent

    async def _mark_sent(self, session: Any, seqs: list[int]) -> None:
        if seqs:
            await session.execute(update(self.table).where(self.table.c.seq.in_(seqs)).values(sent_at=utcnow()))
