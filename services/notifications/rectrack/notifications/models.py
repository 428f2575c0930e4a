"""Tables of the notifications service: the body read model, deliveries, inbox notices, the event outbox/inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rectrack.common.db import UTCDateTime, make_metadata
from rectrack.common.events.outbox import define_event_tables


class Base(DeclarativeBase):
    """Declarative base carrying the shared naming convention."""

    metadata = make_metadata()


class KnownBody(Base):
    """What body.* events told us about a body: who to tell, and where its webhook goes."""

    __tablename__ = "bodies"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    webhook_secret: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The bodies service's version of the row: an older event never overwrites a newer one.
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class Delivery(Base):
    """One notification to one recipient on one channel, for one event: created once, sent after commit."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "channel", "recipient", name="uq_deliveries_event_channel_recipient"),
        Index("ix_deliveries_due", "status", "next_attempt_at"),
        Index("ix_deliveries_body_created", "body_id", "created_at"),
        Index("ix_deliveries_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), nullable=False)
    event_type: Mapped[str] = mapped_column(String(120), nullable=False)
    kind: Mapped[str] = mapped_column(String(60), nullable=False)
    channel: Mapped[str] = mapped_column(String(20), nullable=False)
    recipient: Mapped[str] = mapped_column(String(2000), nullable=False)
    recipient_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    audiences: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    body_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    recommendation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject: Mapped[str] = mapped_column(String(500), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    html: Mapped[str | None] = mapped_column(Text, nullable=True)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    # pending -> sending (claimed, leased until next_attempt_at) -> delivered | pending (retry) | failed
    status: Mapped[str] = mapped_column(String(20), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # attempts made before the current budget began (a manual retry starts a fresh budget)
    budget_start: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Notification(Base):
    """An in-app inbox notice: one per event per inbox (a body's inbox, a staff member's, leadership's)."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("event_id", "inbox_key", name="uq_notifications_event_inbox"),
        Index("ix_notifications_inbox_created", "inbox_key", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    inbox_key: Mapped[str] = mapped_column(String(300), nullable=False)
    event_id: Mapped[str] = mapped_column(String(64), nullable=False)
    event_type: Mapped[str] = mapped_column(String(120), nullable=False)
    kind: Mapped[str] = mapped_column(String(60), nullable=False)
    body_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    recommendation_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    subject: Mapped[str] = mapped_column(String(500), nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


OUTBOX, INBOX = define_event_tables(Base.metadata)
