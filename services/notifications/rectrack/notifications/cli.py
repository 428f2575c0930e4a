"""`rectrack notifications ...`: migrate the database; list failed deliveries."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from rectrack.common.cli import migrate_command
from rectrack.common.db import Database
from rectrack.common.settings import platform_settings
from rectrack.notifications import deliveries
from rectrack.notifications.config import NotificationsSettings
from rectrack.notifications.main import MIGRATIONS

app = typer.Typer(help="The notifications service.", no_args_is_help=True)


def _database_url() -> str:
    return NotificationsSettings().database(platform_settings())


app.command("migrate")(migrate_command("notifications", MIGRATIONS, _database_url))


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
