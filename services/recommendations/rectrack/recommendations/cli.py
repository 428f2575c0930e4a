"""`rectrack recommendations ...` operator commands."""

from __future__ import annotations

from pathlib import Path

import typer

from rectrack.common.cli import migrate_command
from rectrack.common.settings import platform_settings
from rectrack.recommendations.config import RecommendationsSettings
from rectrack.recommendations.scheduler import scheduler_command

MIGRATIONS = Path(__file__).parent / "migrations"

app = typer.Typer(help="The recommendations service.", no_args_is_help=True, add_completion=False)


def _database_url() -> str:
    return RecommendationsSettings().database(platform_settings())


app.command("migrate")(migrate_command("recommendations", str(MIGRATIONS), _database_url))


@app.command()
def serve() -> None:
    """Run the service with uvicorn on its configured host and port."""
    import uvicorn

    settings = RecommendationsSettings()
    uvicorn.run("rectrack.recommendations.main:create_app", factory=True, host=settings.host, port=settings.port)


app.command("scheduler", help="Run the escalation scheduler (a pass every interval, one replica at a time).")(
    scheduler_command)
