"""Alembic environment of the recommendations service."""

from rectrack.common.migrations import run_alembic_env
from rectrack.recommendations.models import Base

run_alembic_env(Base.metadata, "RECTRACK_RECOMMENDATIONS_DATABASE_URL")
