"""Tables of the bodies service: bodies (contacts inline), API keys, and the event outbox/inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rectrack.common.db import UTCDateTime, make_metadata
from rectrack.common.events.outbox import define_event_tables
from rectrack.common.idempotency import define_idempotency_table


class Base(DeclarativeBase):
    """Declarative base carrying the shared naming convention."""

    metadata = make_metadata()


class Body(Base):
    """An inspected body; its id is its code (a slug) and never changes."""

    __tablename__ = "bodies"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    code: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    region: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, index=True, default="active")
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    contacts: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    webhook_url: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    # Kept in clear: the notifications service needs it to sign webhooks; it is never returned by the API.
    webhook_secret: Mapped[str | None] = mapped_column(String(200), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class ApiKey(Base):
    """A key a body's systems authenticate with; only the sha256 of its secret is stored."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_body_created", "body_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    body_id: Mapped[str] = mapped_column(ForeignKey("bodies.id"), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    prefix: Mapped[str] = mapped_column(String(64), nullable=False)
    secret_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(200), nullable=True)


OUTBOX, INBOX = define_event_tables(Base.metadata)
IDEMPOTENCY_KEYS = define_idempotency_table(Base.metadata)
