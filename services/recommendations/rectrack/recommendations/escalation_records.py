"""Tables of the escalation scheduler: one record per level reached, the scheduler lease, and the index of open
recommendations by level and due date that keeps a pass's cost proportional to what changes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String
from sqlalchemy import text as sql_text
from sqlalchemy.orm import Mapped, mapped_column

from rectrack.common.db import UTCDateTime
from rectrack.recommendations.models import ID, Base, Recommendation

# Spelled as literal SQL (never bound parameters) so both planners can prove a query implies the partial index.
OPEN_STATES_SQL = "state IN ('issued', 'in_progress', 'awaiting_review')"

# Open recommendations by (escalation_level, due_date): every candidate query of a pass is one range probe here,
# returning only the rows whose level changes; closed rows (the bulk, over time) are not in it at all.
OPEN_BY_LEVEL_INDEX = Index(
    "ix_recommendations_open_escalation_due",
    Recommendation.escalation_level,
    Recommendation.due_date,
    sqlite_where=sql_text(OPEN_STATES_SQL),
    postgresql_where=sql_text(OPEN_STATES_SQL),
)


class EscalationRecord(Base):
    """Level `level` was reached for this recommendation and this due date: at most once, by its primary key."""

    __tablename__ = "escalation_records"

    recommendation_id: Mapped[str] = mapped_column(ForeignKey("recommendations.id"), primary_key=True)
    due_date: Mapped[date] = mapped_column(Date, primary_key=True)
    level: Mapped[str] = mapped_column(String(20), primary_key=True)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The pass's own level reached by the event (the others of that event were passed over).
    announced_level: Mapped[str] = mapped_column(String(20))


class SchedulerLease(Base):
    """Which replica runs passes now; taken with one atomic UPDATE, lost when it expires."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    holder: Mapped[str] = mapped_column(String(ID))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
