"""The notifications migrations build exactly the models' schema from empty, and come back down to nothing."""

from __future__ import annotations

from pathlib import Path

from rectrack.common.testing import check_migrations
from rectrack.notifications.main import MIGRATIONS
from rectrack.notifications.models import Base


async def test_upgrade_to_head_and_down_to_base(database_backend: str, tmp_path: Path) -> None:
    await check_migrations(database_backend, MIGRATIONS, Base.metadata, tmp_path)
