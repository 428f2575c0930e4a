"""`rectrack notifications ...`: migrate the database; list failed deliveries."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from rectrack.common.db import Database, is_sqlite, run_migrations
from rectrack.common.settings import platform_settings
from rectrack.notifications import deliveries
from rectrack.notifications.config import NotificationsSettings
from rectrack.notifications.main import MIGRATIONS

app = typer.Typer(help="The notifications service.", no_args_is_help=True)


def _database_url() -> str:
    return NotificationsSettings().database(platform_settings())


@app.command("migrate")
def migrate(revision: Annotated[str, typer.Option(help="target revision")] = "head") -> None:
    """Upgrade the notifications database to the latest schema."""
    url = _database_url()
    if is_sqlite(url) and (database := make_url(url).database) and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    run_migrations(MIGRATIONS, url, revision)
    typer.echo(f"notifications database at {revision}")


@app.command("deliveries")
def list_deliveries(
    status: Annotated[str | None, typer.Option(help="pending, sending, delivered or failed")] = None,
    limit: Annotated[int, typer.Option(help="how many, newest first")] = 20,
) -> None:
    """Print the newest deliveries (status, attempts, last error)."""

    async def run() -> list[str]:
        db = Database(_database_url())
        try:
            async with db.read() as session:
                rows, _ = await deliveries.list_deliveries(session, body_id=None, channel=None, status=status,
                                                           event_id=None, limit=limit, offset=0)
        finally:
            await db.dispose()
        return [f"{r.id} {r.status:9} {r.channel:7} attempts={r.attempts} {r.recipient} {r.last_error or ''}"
                for r in rows]

    for line in asyncio.run(run()):
        typer.echo(line)
