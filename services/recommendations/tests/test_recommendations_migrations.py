"""The service's migrations go up from empty to head and back down to base on each backend."""

from __future__ import annotations

import asyncio
from pathlib import Path

from recommendations_testkit import MIGRATIONS
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from rectrack.common.db import run_migrations
from rectrack.common.testing import check_migrations, discard_database, migrated_database
from rectrack.recommendations.models import Base


async def table_names(url: str) -> tuple[set[str], set[str]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            def read(sync_conn):
                inspector = inspect(sync_conn)
                tables = set(inspector.get_table_names())
                indexes = {i["name"] for i in inspector.get_indexes("recommendations")} if "recommendations" in \
                    tables else set()
                return tables, indexes
            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_migrations_match_the_models_on_the_way_up_and_leave_nothing_on_the_way_down(
        database_backend: str, tmp_path: Path) -> None:
    await check_migrations(database_backend, MIGRATIONS, Base.metadata, tmp_path)


async def test_migrations_up_and_down(database_backend: str, tmp_path: Path) -> None:
    url = await migrated_database(database_backend, MIGRATIONS, tmp_path)
    try:
        tables, indexes = await table_names(url)
        assert {"bodies", "reports", "recommendations", "recommendation_themes", "progress_updates",
                "evidence_files", "extension_requests", "history", "outbox", "inbox"} <= tables
        assert "ix_recommendations_state_due_date" in indexes
        await asyncio.to_thread(run_migrations, MIGRATIONS, url, "base", downgrade=True)
        tables, _ = await table_names(url)
        assert tables <= {"alembic_version"}
        await asyncio.to_thread(run_migrations, MIGRATIONS, url)
        assert "recommendations" in (await table_names(url))[0]
    finally:
        await discard_database(database_backend, url)
