"""Tables of the recommendations service: bodies read model, reports, per-body tracking, progress, history."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from rectrack.common.db import UTCDateTime, make_metadata
from rectrack.common.events.outbox import define_event_tables
from rectrack.common.idempotency import define_idempotency_table

ID = 64
SUBJECT = 200


class Base(DeclarativeBase):
    """Declarative base with the shared naming convention."""

    metadata = make_metadata()


OUTBOX, INBOX = define_event_tables(Base.metadata)
IDEMPOTENCY_KEYS = define_idempotency_table(Base.metadata)


class Body(Base):
    """The local read model of inspected bodies, fed by body.* events."""

    __tablename__ = "bodies"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(40))
    region: Mapped[str | None] = mapped_column(String(120), index=True)
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Report(Base):
    """An inspection report that recommendations come from."""

    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(20))
    published_on: Mapped[date | None] = mapped_column(Date)
    url: Mapped[str | None] = mapped_column(String(2000))
    created_by: Mapped[str] = mapped_column(String(SUBJECT))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)


class Recommendation(Base):
    """One body's copy of a recommendation: its own state, due date, escalation, progress and history."""

    __tablename__ = "recommendations"
    __table_args__ = (
        UniqueConstraint("report_id", "reference", "body_id", name="uq_recommendations_report_reference_body"),
        # The escalation scheduler walks open recommendations by due date; the dashboard groups by state, and
        # on PostgreSQL by theme list from this index alone (the list is at most 30 short slugs).
        Index("ix_recommendations_state_due_date", "state", "due_date", postgresql_include=["themes"]),
        # The dashboard's median time to complete, read from the index alone.
        Index("ix_recommendations_state_completed_at", "state", "completed_at", "issued_at"),
        # Wide enough for index-only scans of the summary's grouped counts.
        Index("ix_recommendations_body_id_state", "body_id", "state", "escalation_level", "due_date"),
        Index("ix_recommendations_report_id_state", "report_id", "state", "due_date"),
        Index("ix_recommendations_escalation_level_state", "escalation_level", "state"),
        Index("ix_recommendations_updated_at", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(ID), index=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id"))
    body_id: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(40))
    reference: Mapped[str] = mapped_column(String(120))
    title: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    themes: Mapped[list[str]] = mapped_column(JSON, default=list)
    priority: Mapped[str] = mapped_column(String(10))
    benefits: Mapped[str | None] = mapped_column(Text)
    risks: Mapped[str | None] = mapped_column(Text)
    closure_criteria: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(SUBJECT))
    state: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    due_date: Mapped[date | None] = mapped_column(Date)
    escalation_level: Mapped[str] = mapped_column(String(20), default="none", server_default=sql_text("'none'"))
    assessment: Mapped[str | None] = mapped_column(Text)
    superseded_by: Mapped[str | None] = mapped_column(String(ID))
    progress_since_return: Mapped[int] = mapped_column(Integer, default=0)
    last_returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(SUBJECT))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    # Every ORM UPDATE says WHERE version = :loaded and fails on no row, so two writers never both win.
    __mapper_args__ = {"version_id_col": version}


class RecommendationTheme(Base):
    """One theme tag of one recommendation, so filters and roll-ups by theme are indexed GROUP BYs."""

    __tablename__ = "recommendation_themes"
    __table_args__ = (Index("ix_recommendation_themes_theme", "theme", "recommendation_id"),)

    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id", ondelete="CASCADE"),
                                                   primary_key=True)
    theme: Mapped[str] = mapped_column(String(80), primary_key=True)


class ProgressUpdate(Base):
    """A narrative (and RAG rating) posted against one body's recommendation."""

    __tablename__ = "progress_updates"
    __table_args__ = (Index("ix_progress_updates_recommendation_id_created_at", "recommendation_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"))
    narrative: Mapped[str] = mapped_column(Text)
    rag: Mapped[str | None] = mapped_column(String(10))
    author_kind: Mapped[str] = mapped_column(String(20))
    author_subject: Mapped[str] = mapped_column(String(SUBJECT))
    author_name: Mapped[str | None] = mapped_column(String(SUBJECT))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EvidenceFile(Base):
    """Metadata of one stored evidence file; the bytes live in evidence storage under `storage_key`."""

    __tablename__ = "evidence_files"

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    progress_id: Mapped[str] = mapped_column(ForeignKey("progress_updates.id"), index=True)
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    storage_key: Mapped[str] = mapped_column(String(ID), unique=True)
    media_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ExtensionRequest(Base):
    """A body's request to move its due date, and staff's decision on it."""

    __tablename__ = "extension_requests"
    __table_args__ = (
        # At most one pending request per recommendation, held by the database against races.
        Index("ix_extension_requests_one_pending", "recommendation_id", unique=True,
              sqlite_where=sql_text("status = 'pending'"), postgresql_where=sql_text("status = 'pending'")),
        Index("ix_extension_requests_recommendation_id", "recommendation_id", "requested_at"),
    )

    id: Mapped[str] = mapped_column(String(ID), primary_key=True)
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"))
    proposed_due_date: Mapped[date] = mapped_column(Date)
    previous_due_date: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
    requested_by_kind: Mapped[str] = mapped_column(String(20))
    requested_by: Mapped[str] = mapped_column(String(SUBJECT))
    requested_by_name: Mapped[str | None] = mapped_column(String(SUBJECT))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(SUBJECT))
    decided_by_name: Mapped[str | None] = mapped_column(String(SUBJECT))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_reason: Mapped[str | None] = mapped_column(Text)


class HistoryEntry(Base):
    """Append-only record of everything that happened to one body's recommendation."""

    __tablename__ = "history"
    __table_args__ = (Index("ix_history_recommendation_id_seq", "recommendation_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_subject: Mapped[str] = mapped_column(String(SUBJECT))
    actor_name: Mapped[str | None] = mapped_column(String(SUBJECT))
    action: Mapped[str] = mapped_column(String(40))
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, object] | None] = mapped_column(JSON)


# The escalation scheduler's tables live in their own module on this metadata; imported here so metadata sees them.
from rectrack.recommendations import escalation_records as _escalation_records  # noqa: E402, F401
