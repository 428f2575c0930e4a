"""The body of every service's alembic env.py: async migrations on the service's own URL."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def run_alembic_env(target_metadata: MetaData, url_env: str) -> None:
    """Run the migrations alembic asked for against config.attributes['database_url'] or $url_env."""
    from alembic import context

    config = context.config
    url = config.attributes.get("database_url") or os.environ.get(url_env)
    if not url:
        raise RuntimeError(f"no database URL: pass one or set {url_env}")

    def configure_and_run(connection: Connection | None) -> None:
        context.configure(
            connection=connection,
            url=None if connection is not None else url,
            target_metadata=target_metadata,
            render_as_batch=True,  # SQLite alters tables by copying them
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        configure_and_run(None)
        return

    async def run() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(configure_and_run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(run())
