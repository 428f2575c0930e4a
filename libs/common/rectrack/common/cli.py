"""The `rectrack` operator CLI; each part adds its own commands through the `rectrack.cli` entry point group."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Annotated

import typer

from rectrack.common.auth import issue_user_token
from rectrack.common.db import run_migrations
from rectrack.common.settings import PlatformSettings

app = typer.Typer(help="rectrack operator commands.", no_args_is_help=True, add_completion=False)
token_app = typer.Typer(help="Tokens for the local deployment.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("issue")
def token_issue(
    role: Annotated[str, typer.Option(help="inspector, admin, viewer or body")],
    body: Annotated[str | None, typer.Option(help="the body's code, for --role body")] = None,
    name: Annotated[str | None, typer.Option(help="display name (and subject) of the principal")] = None,
    hours: Annotated[int, typer.Option(help="lifetime of the token in hours")] = 8,
) -> None:
    """Print a bearer token that the local gateway accepts."""
    if role not in ("inspector", "admin", "viewer", "body"):
        raise typer.BadParameter("role must be inspector, admin, viewer or body", param_hint="--role")
    if role == "body" and not body:
        raise typer.BadParameter("a body token needs --body CODE", param_hint="--body")
    if role != "body" and body:
        raise typer.BadParameter("--body goes only with --role body", param_hint="--body")
    subject = name or (f"{body}-user" if role == "body" else f"local-{role}")
    settings = PlatformSettings()
    typer.echo(issue_user_token(settings, role=role, subject=subject, name=name or subject, body_id=body,
                                ttl_seconds=hours * 3600))


def migrate_command(name: str, migrations: str, database_url: Callable[[], str]) -> Callable[..., None]:
    """The `rectrack <service> migrate` command of a service."""

    def migrate(revision: Annotated[str, typer.Option(help="target revision")] = "head",
                downgrade: Annotated[bool, typer.Option(help="downgrade to the revision instead")] = False) -> None:
        run_migrations(migrations, database_url(), revision, downgrade=downgrade)
        typer.echo(f"{name} database at {revision}")

    migrate.__doc__ = f"Upgrade (or downgrade) the {name} database."
    return migrate


def _load_plugins() -> None:
    for ep in entry_points(group="rectrack.cli"):
        try:
            command = ep.load()
        except Exception as exc:  # one broken part must not take the whole operator CLI down
            typer.echo(f"rectrack: commands of {ep.value} unavailable: {exc}", err=True)
            continue
        if isinstance(command, typer.Typer):
            app.add_typer(command, name=ep.name)
        else:
            app.command(ep.name)(command)


def main() -> None:
    """Entry point of the `rectrack` command."""
    _load_plugins()
    app()
