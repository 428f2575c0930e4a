"""The notifications migrations upgrade an empty database to head and downgrade it back to base."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from rectrack.common.db import run_migrations
from rectrack.common.testing import discard_database, migrated_database
from rectrack.notifications.main import MIGRATIONS

TABLES = {"bodies", "deliveries", "notifications", "outbox", "inbox"}


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_to_head_and_down_to_base(database_backend: str, tmp_path: Path) -> None:
    url = await migrated_database(database_backend, MIGRATIONS, tmp_path)
    try:
        assert TABLES | {"alembic_version"} <= await table_names(url)
        await asyncio.to_thread(run_migrations, MIGRATIONS, url, "base", downgrade=True)
        assert await table_names(url) <= {"alembic_version"}
        await asyncio.to_thread(run_migrations, MIGRATIONS, url)
        assert await table_names(url) >= TABLES
    finally:
        await discard_database(database_backend, url)
