"""`rectrack recommendations ...` operator commands."""

from __future__ import annotations

from pathlib import Path

import typer
from sqlalchemy.engine import make_url

from rectrack.common.db import run_migrations
from rectrack.common.settings import platform_settings
from rectrack.recommendations.config import RecommendationsSettings
from rectrack.recommendations.scheduler import scheduler_command

MIGRATIONS = Path(__file__).parent / "migrations"

app = typer.Typer(help="The recommendations service.", no_args_is_help=True, add_completion=False)


@app.command()
def migrate(revision: str = typer.Option("head", help="target revision"),
            downgrade: bool = typer.Option(False, help="downgrade to the revision instead")) -> None:
    """Upgrade (or downgrade) the recommendations database."""
    url = RecommendationsSettings().resolved_database_url(platform_settings(), "recommendations")
    database = make_url(url).database
    if make_url(url).get_backend_name() == "sqlite" and database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    run_migrations(MIGRATIONS, url, revision, downgrade=downgrade)
    typer.echo(f"recommendations database at {revision}")


@app.command()
def serve() -> None:
    """Run the service with uvicorn on its configured host and port."""
    import uvicorn

    settings = RecommendationsSettings()
    uvicorn.run("rectrack.recommendations.main:create_app", factory=True, host=settings.host, port=settings.port)


app.command("scheduler", help="Run the escalation scheduler (a pass every interval, one replica at a time).")(
    scheduler_command)
