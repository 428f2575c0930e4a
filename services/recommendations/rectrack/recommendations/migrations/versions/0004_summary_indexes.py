"""Covering indexes for the summary: (state, completed_at, issued_at) so the median time to complete is an
index-only scan, and on PostgreSQL ix_recommendations_state_due_date carries the theme list (INCLUDE themes) so
the by-theme counts are an index-only scan rather than a read of the whole table.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_recommendations_state_completed_at", "recommendations",
                    ["state", "completed_at", "issued_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_recommendations_state_due_date", table_name="recommendations")
        op.create_index("ix_recommendations_state_due_date", "recommendations", ["state", "due_date"],
                        postgresql_include=["themes"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_recommendations_state_due_date", table_name="recommendations")
        op.create_index("ix_recommendations_state_due_date", "recommendations", ["state", "due_date"])
    op.drop_index("ix_recommendations_state_completed_at", table_name="recommendations")
