"""Initial schema: bodies read model, reports, per-body recommendations, themes, progress, evidence,
extension requests, history, outbox and inbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rectrack.common.db

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bodies",
        sa.Column("id", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("region", sa.String(length=120), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bodies")),
    )
    with op.batch_alter_table("bodies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bodies_region"), ["region"], unique=False)

    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(length=120), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=120), nullable=False),
        sa.Column("processed_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_inbox")),
    )
    op.create_table(
        "outbox",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=120), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_outbox")),
        sa.UniqueConstraint("event_id", name=op.f("uq_outbox_event_id")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_unsent", ["sent_at", "seq"], unique=False)

    op.create_table(
        "reports",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_created_at"), ["created_at"], unique=False)

    op.create_table(
        "recommendations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("group_id", sa.String(length=64), nullable=False),
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("body_id", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("reference", sa.String(length=120), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("themes", sa.JSON(), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("benefits", sa.Text(), nullable=True),
        sa.Column("risks", sa.Text(), nullable=True),
        sa.Column("closure_criteria", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("escalation_level", sa.String(length=20), server_default=sa.text("'none'"), nullable=False),
        sa.Column("assessment", sa.Text(), nullable=True),
        sa.Column("superseded_by", sa.String(length=64), nullable=True),
        sa.Column("progress_since_return", sa.Integer(), nullable=False),
        sa.Column("last_returned_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("issued_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("completed_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], name=op.f("fk_recommendations_report_id_reports")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recommendations")),
        sa.UniqueConstraint("report_id", "reference", "body_id", name="uq_recommendations_report_reference_body"),
    )
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recommendations_body_id_state", ["body_id", "state", "escalation_level", "due_date"], unique=False
        )
        batch_op.create_index("ix_recommendations_escalation_level_state", ["escalation_level", "state"], unique=False)
        batch_op.create_index(batch_op.f("ix_recommendations_group_id"), ["group_id"], unique=False)
        batch_op.create_index(
            "ix_recommendations_report_id_state", ["report_id", "state", "due_date"], unique=False
        )
        batch_op.create_index("ix_recommendations_state_due_date", ["state", "due_date"], unique=False)
        batch_op.create_index("ix_recommendations_updated_at", ["updated_at"], unique=False)

    op.create_table(
        "extension_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("recommendation_id", sa.String(length=64), nullable=False),
        sa.Column("proposed_due_date", sa.Date(), nullable=False),
        sa.Column("previous_due_date", sa.Date(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by_kind", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("requested_by_name", sa.String(length=200), nullable=True),
        sa.Column("requested_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_by_name", sa.String(length=200), nullable=True),
        sa.Column("decided_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name=op.f("fk_extension_requests_recommendation_id_recommendations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_extension_requests")),
    )
    with op.batch_alter_table("extension_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_extension_requests_one_pending",
            ["recommendation_id"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
        batch_op.create_index(
            "ix_extension_requests_recommendation_id", ["recommendation_id", "requested_at"], unique=False
        )

    op.create_table(
        "history",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("recommendation_id", sa.String(length=64), nullable=False),
        sa.Column("at", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=20), nullable=False),
        sa.Column("actor_subject", sa.String(length=200), nullable=False),
        sa.Column("actor_name", sa.String(length=200), nullable=True),
        sa.Column("action", sa.String(length=40), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["recommendation_id"], ["recommendations.id"], name=op.f("fk_history_recommendation_id_recommendations")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_history")),
    )
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.create_index("ix_history_recommendation_id_seq", ["recommendation_id", "seq"], unique=False)

    op.create_table(
        "progress_updates",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("recommendation_id", sa.String(length=64), nullable=False),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("rag", sa.String(length=10), nullable=True),
        sa.Column("author_kind", sa.String(length=20), nullable=False),
        sa.Column("author_subject", sa.String(length=200), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=True),
        sa.Column("created_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name=op.f("fk_progress_updates_recommendation_id_recommendations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_progress_updates")),
    )
    with op.batch_alter_table("progress_updates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_progress_updates_recommendation_id_created_at", ["recommendation_id", "created_at"], unique=False
        )

    op.create_table(
        "recommendation_themes",
        sa.Column("recommendation_id", sa.String(length=64), nullable=False),
        sa.Column("theme", sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name=op.f("fk_recommendation_themes_recommendation_id_recommendations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("recommendation_id", "theme", name=op.f("pk_recommendation_themes")),
    )
    with op.batch_alter_table("recommendation_themes", schema=None) as batch_op:
        batch_op.create_index("ix_recommendation_themes_theme", ["theme", "recommendation_id"], unique=False)

    op.create_table(
        "evidence_files",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("progress_id", sa.String(length=64), nullable=False),
        sa.Column("recommendation_id", sa.String(length=64), nullable=False),
        sa.Column("filename", sa.String(length=300), nullable=False),
        sa.Column("storage_key", sa.String(length=64), nullable=False),
        sa.Column("media_type", sa.String(length=120), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["progress_id"], ["progress_updates.id"], name=op.f("fk_evidence_files_progress_id_progress_updates")
        ),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name=op.f("fk_evidence_files_recommendation_id_recommendations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_files")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_evidence_files_storage_key")),
    )
    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_files_progress_id"), ["progress_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_files_recommendation_id"), ["recommendation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("evidence_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_files_recommendation_id"))
        batch_op.drop_index(batch_op.f("ix_evidence_files_progress_id"))

    op.drop_table("evidence_files")
    with op.batch_alter_table("recommendation_themes", schema=None) as batch_op:
        batch_op.drop_index("ix_recommendation_themes_theme")

    op.drop_table("recommendation_themes")
    with op.batch_alter_table("progress_updates", schema=None) as batch_op:
        batch_op.drop_index("ix_progress_updates_recommendation_id_created_at")

    op.drop_table("progress_updates")
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_index("ix_history_recommendation_id_seq")

    op.drop_table("history")
    with op.batch_alter_table("extension_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_extension_requests_recommendation_id")
        batch_op.drop_index(
            "ix_extension_requests_one_pending",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )

    op.drop_table("extension_requests")
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.drop_index("ix_recommendations_updated_at")
        batch_op.drop_index("ix_recommendations_state_due_date")
        batch_op.drop_index("ix_recommendations_report_id_state")
        batch_op.drop_index(batch_op.f("ix_recommendations_group_id"))
        batch_op.drop_index("ix_recommendations_escalation_level_state")
        batch_op.drop_index("ix_recommendations_body_id_state")

    op.drop_table("recommendations")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reports_created_at"))

    op.drop_table("reports")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_unsent")

    op.drop_table("outbox")
    op.drop_table("inbox")
    with op.batch_alter_table("bodies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bodies_region"))

    op.drop_table("bodies")
