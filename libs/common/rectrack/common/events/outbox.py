"""The transactional outbox: an event row written in the same transaction as the change it reports."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, MetaData, String, Table, Text, insert
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.context import causation_id_var, correlation_id_var
from rectrack.common.db import UTCDateTime, utcnow
from rectrack.common.events.envelope import Envelope

PENDING_FLAG = "rectrack_outbox_pending"


def define_event_tables(metadata: MetaData) -> tuple[Table, Table]:
    """Add the outbox and inbox tables to a service's metadata; returns (outbox, inbox)."""
    outbox = Table(
        "outbox",
        metadata,
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("event_type", String(120), nullable=False),
        Column("payload", Text, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        Column("sent_at", UTCDateTime(), nullable=True),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text, nullable=True),
    )
    Index("ix_outbox_unsent", outbox.c.sent_at, outbox.c.seq)
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer", String(120), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("event_type", String(120), nullable=False),
        Column("processed_at", UTCDateTime(), nullable=False),
    )
    return outbox, inbox


class Outbox:
    """Writes events into a service's outbox table inside the caller's transaction."""

    def __init__(self, table: Table, source: str) -> None:
        self.table = table
        self.source = source

    def envelope(self, event_type: str, subject: str, data: dict[str, Any], *, version: int = 1) -> Envelope:
        """A new envelope carrying the current correlation and causation ids."""
        return Envelope(
            type=event_type,
            version=version,
            source=self.source,
            subject=subject,
            correlation_id=correlation_id_var.get(),
            causation_id=causation_id_var.get(),
            data=data,
        )

    async def add(self, session: AsyncSession, event_type: str, subject: str, data: dict[str, Any], *,
                  version: int = 1) -> Envelope:
        """Record one event in the session's transaction; it is published after commit."""
        envelope = self.envelope(event_type, subject, data, version=version)
        await session.execute(
            insert(self.table).values(
                event_id=envelope.id,
                event_type=envelope.type,
                payload=envelope.model_dump_json(),
                created_at=utcnow(),
                attempts=0,
            )
        )
        session.sync_session.info[PENDING_FLAG] = True
        return envelope

    async def add_many(self, session: AsyncSession, events: list[tuple[str, str, dict[str, Any]]]) -> list[Envelope]:
        """Record (type, subject, data) events in one statement, in order, in the caller's transaction."""
        if not events:
            return []
        envelopes = [self.envelope(event_type, subject, data) for event_type, subject, data in events]
        now = utcnow()
        await session.execute(insert(self.table), [
            {"event_id": e.id, "event_type": e.type, "payload": e.model_dump_json(), "created_at": now, "attempts": 0}
            for e in envelopes])
        session.sync_session.info[PENDING_FLAG] = True
        return envelopes
