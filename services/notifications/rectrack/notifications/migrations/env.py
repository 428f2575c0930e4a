"""Alembic environment of the notifications service."""

from rectrack.common.migrations import run_alembic_env
from rectrack.notifications.models import Base

run_alembic_env(Base.metadata, "RECTRACK_NOTIFICATIONS_DATABASE_URL")
