"""`rectrack bodies ...`: migrate the database, load demo data, manage API keys from the shell."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from rectrack.bodies import apikeys
from rectrack.bodies.config import SERVICE_NAME, BodiesSettings
from rectrack.bodies.demo import DemoResult, load_demo
from rectrack.bodies.main import MIGRATIONS
from rectrack.bodies.models import OUTBOX
from rectrack.common.cli import migrate_command
from rectrack.common.db import Database
from rectrack.common.errors import Problem
from rectrack.common.events.outbox import Outbox
from rectrack.common.settings import platform_settings

app = typer.Typer(help="The bodies service.", no_args_is_help=True)
api_key_app = typer.Typer(help="API keys of a body's systems.", no_args_is_help=True)
app.add_typer(api_key_app, name="api-key")


def _database_url() -> str:
    return BodiesSettings().database(platform_settings())


app.command("migrate")(migrate_command("bodies", MIGRATIONS, _database_url))


@app.command("load-demo")
def load_demo_command() -> None:
    """Load the demo bodies (idempotent: a second run changes nothing)."""

    async def run() -> DemoResult:
        db = Database(_database_url())
        try:
            async with db.transaction() as session:
                return await load_demo(session, outbox=Outbox(OUTBOX, source=SERVICE_NAME))
        finally:
            await db.dispose()

    result = asyncio.run(run())
    typer.echo(f"demo bodies: {result.created} created, {result.present} already present")


@api_key_app.command("create")
def api_key_create(
    body: Annotated[str, typer.Option(help="the body's code")],
    name: Annotated[str, typer.Option(help="what the key is for")] = "cli key",
) -> None:
    """Create an API key for a body and print it (it cannot be shown again)."""

    async def run() -> str:
        db = Database(_database_url())
        try:
            async with db.transaction() as session:
                created = await apikeys.create_key(session, body_id=body, name=name, created_by="cli")
            return created.key
        finally:
            await db.dispose()

    try:
        typer.echo(asyncio.run(run()))
    except Problem as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@api_key_app.command("revoke")
def api_key_revoke(
    body: Annotated[str, typer.Option(help="the body's code")],
    key_id: Annotated[str, typer.Argument(help="the key's id (the part after rtk_)")],
) -> None:
    """Revoke one of a body's API keys."""

    async def run() -> None:
        db = Database(_database_url())
        try:
            async with db.transaction() as session:
                await apikeys.revoke_key(session, body_id=body, key_id=key_id, revoked_by="cli")
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except Problem as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"revoked {key_id}")
