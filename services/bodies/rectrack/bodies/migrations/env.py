"""Alembic environment of the bodies service."""

from rectrack.bodies.models import Base
from rectrack.common.migrations import run_alembic_env

run_alembic_env(Base.metadata, "RECTRACK_BODIES_DATABASE_URL")
