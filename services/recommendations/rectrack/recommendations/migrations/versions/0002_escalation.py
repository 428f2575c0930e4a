"""Escalation scheduler: escalation records (one per level reached per due date), the scheduler lease, and a
partial index of open recommendations by (escalation_level, due_date).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import rectrack.common.db

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN_STATES_SQL = "state IN ('issued', 'in_progress', 'awaiting_review')"


def upgrade() -> None:
    op.create_table(
        "escalation_records",
        sa.Column("recommendation_id", sa.String(length=64), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("as_of", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("announced_level", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["recommendation_id"],
            ["recommendations.id"],
            name=op.f("fk_escalation_records_recommendation_id_recommendations"),
        ),
        sa.PrimaryKeyConstraint("recommendation_id", "due_date", "level", name=op.f("pk_escalation_records")),
    )
    op.create_table(
        "scheduler_lease",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("acquired_at", rectrack.common.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_scheduler_lease")),
    )
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recommendations_open_escalation_due",
            ["escalation_level", "due_date"],
            unique=False,
            sqlite_where=sa.text(OPEN_STATES_SQL),
            postgresql_where=sa.text(OPEN_STATES_SQL),
        )


def downgrade() -> None:
    with op.batch_alter_table("recommendations", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_recommendations_open_escalation_due",
            sqlite_where=sa.text(OPEN_STATES_SQL),
            postgresql_where=sa.text(OPEN_STATES_SQL),
        )
    op.drop_table("scheduler_lease")
    op.drop_table("escalation_records")
