"""The idempotent consumer: durable pull, inbox row in the handler's transaction, ack after commit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.context import bind_correlation
from rectrack.common.db import Database, insert_ignore, utcnow
from rectrack.common.events.envelope import Envelope
from rectrack.common.events.subjects import StreamSpec, deadletter_subject
from rectrack.common.faults import crash_point

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Envelope], Awaitable[None]]


class EventConsumer:
    """Runs one handler over one durable consumer; a redelivered event has no second effect."""

    def __init__(self, *, name: str, db: Database, inbox: Table, js: JetStreamContext, stream: StreamSpec,
                 handler: Handler, filter_subject: str | None = None, max_deliver: int = 5,
                 retry_delays: tuple[float, ...] = (0.5, 2.0, 5.0, 15.0), ack_wait: float = 30.0,
                 batch_size: int = 64) -> None:
        self.name = name
        self.db = db
        self.inbox = inbox
        self.js = js
        self.stream = stream
        self.handler = handler
        self.filter_subject = filter_subject or stream.subjects[0]
        self.max_deliver = max_deliver
        self.retry_delays = retry_delays
        self.ack_wait = ack_wait
        self.batch_size = batch_size

    async def subscribe(self) -> JetStreamContext.PullSubscription:
        """Bind (creating if needed) the durable pull consumer."""
        # Delivery is unbounded on the server: this consumer decides when to dead-letter, so the
        # message is never silently dropped by the server's own max_deliver.
        config = ConsumerConfig(
            durable_name=self.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait,
            max_ack_pending=1000,
        )
        return await self.js.pull_subscribe(self.filter_subject, durable=self.name, stream=self.stream.name,
                                            config=config)

    async def run(self) -> None:
        """Fetch and handle messages for ever."""
        while True:
            try:
                sub = await self.subscribe()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("consumer %s cannot subscribe yet: %s", self.name, exc)
                await asyncio.sleep(1.0)
        idle = True
        while True:
            # nats-py's fetch(n) waits for all n (or the timeout) once it has had to wait for the first, so an
            # idle consumer waits for one message, then drains what is pending in batches with a short wait.
            try:
                messages = await (sub.fetch(1, timeout=2.0) if idle else sub.fetch(self.batch_size, timeout=0.05))
            except (NatsTimeoutError, TimeoutError):
                idle = True
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # connection lost: nats-py reconnects, we retry
                log.warning("consumer %s fetch failed: %s", self.name, exc)
                await asyncio.sleep(0.5)
                continue
            idle = False
            for message in messages:
                await self.process(message)

    async def process(self, message: Msg) -> None:
        """Handle one message: exactly one effect however often it is delivered."""
        try:
            envelope = Envelope.from_bytes(message.data)
        except (ValidationError, ValueError) as exc:
            await self._deadletter(message, "unknown", f"unparseable envelope: {exc}")
            return
        bind_correlation(envelope.correlation_id, causation_id=envelope.id)
        try:
            async with self.db.transaction() as session:
                first_time = await insert_ignore(session, self.inbox, {
                    "consumer": self.name,
                    "event_id": envelope.id,
                    "event_type": envelope.type,
                    "processed_at": utcnow(),
                })
                if first_time:
                    await self.handler(session, envelope)
            crash_point(f"consumer.{self.name}.after_commit")
            await message.ack()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delivered = message.metadata.num_delivered or 1
            if delivered >= self.max_deliver:
                await self._deadletter(message, envelope.type, repr(exc))
                return
            delay = self.retry_delays[min(delivered - 1, len(self.retry_delays) - 1)]
            log.warning("consumer %s failed on %s (delivery %d), retrying in %.1fs: %r",
                        self.name, envelope.id, delivered, delay, exc)
            await message.nak(delay=delay)

    async def _deadletter(self, message: Msg, event_type: str, error: str) -> None:
        subject = deadletter_subject(self.name, event_type)
        headers = {"Rectrack-Error": error[:1000], "Rectrack-Original-Subject": message.subject,
                   "Rectrack-Consumer": self.name}
        await self.js.publish(subject, message.data, headers=headers)
        await message.term()
        log.error("consumer %s dead-lettered a message to %s: %s", self.name, subject, error)
