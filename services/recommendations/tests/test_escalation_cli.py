"""`rectrack escalate --as-of`: prints each change, publishes the events, and a second run prints nothing changed."""

from __future__ import annotations

import asyncio
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import typer
from escalation_testkit import escalated_events
from recommendations_testkit import DatabaseTemplates, fresh_database
from sqlalchemy import func, select
from typer.testing import CliRunner

from rectrack.common.db import Database
from rectrack.common.settings import platform_settings
from rectrack.common.testing import discard_database, free_port
from rectrack.recommendations.escalation_bench import fill
from rectrack.recommendations.escalation_cli import escalate, parse_as_of
from rectrack.recommendations.models import OUTBOX


def cli() -> typer.Typer:
    app = typer.Typer(add_completion=False)
    app.command()(escalate)
    return app


async def _seed(backend: str, templates: DatabaseTemplates, workdir: Path) -> str:
    url = await fresh_database(backend, templates, workdir)
    db = Database(url)
    try:
        await fill(db, total=30, changing=2)  # at 2030-01-02 exactly BENCH-00000001 and -02 become due_soon
    finally:
        await db.dispose()
    return url


async def _outbox(url: str) -> tuple[list[dict[str, Any]], int]:
    db = Database(url)
    try:
        async with db.read() as session:
            unsent = (await session.execute(select(func.count()).select_from(OUTBOX)
                                            .where(OUTBOX.c.sent_at.is_(None)))).scalar_one()
        return await escalated_events(db), unsent
    finally:
        await db.dispose()


def test_escalate_prints_changes_publishes_and_then_nothing(database_backend: str,
                                                             database_templates: DatabaseTemplates,
                                                             nats_server: Any, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url = asyncio.run(_seed(database_backend, database_templates, tmp_path))
    monkeypatch.setenv("RECTRACK_RECOMMENDATIONS_DATABASE_URL", url)
    monkeypatch.setenv("RECTRACK_NATS_URL", nats_server.url)
    monkeypatch.setenv("RECTRACK_DATA_DIR", str(tmp_path))
    platform_settings.cache_clear()
    runner = CliRunner()
    try:
        first = runner.invoke(cli(), ["--as-of", "2030-01-02"])
        assert first.exit_code == 0, first.output
        lines = first.output.splitlines()
        assert lines[0] == "as of 2030-01-02T00:00:00+00:00: 2 changed, 2 event(s)"
        assert lines[1] == "  BENCH-00000001  bench-body (Benchmark Police)  none → due_soon"
        assert lines[2] == "  BENCH-00000002  bench-body (Benchmark Police)  none → due_soon"
        assert "published 2 pending event(s) to NATS" in first.output
        events, unsent = asyncio.run(_outbox(url))
        assert len(events) == 2 and unsent == 0

        second = runner.invoke(cli(), ["--as-of", "2030-01-02"])
        assert second.exit_code == 0, second.output
        assert second.output.splitlines()[0] == "as of 2030-01-02T00:00:00+00:00: nothing changed"

        # 75 days on, with NATS unreachable: the changes are made, and the events wait in the outbox.
        monkeypatch.setenv("RECTRACK_NATS_URL", f"nats://127.0.0.1:{free_port()}")
        platform_settings.cache_clear()
        third = runner.invoke(cli(), ["--as-of", "2030-03-17T12:00:00"])
        assert third.exit_code == 0, third.output
        assert "(skipped: due_soon)" in third.output  # none → overdue, one event naming the level passed over
        assert "will be published by the running service's relay sweep" in third.output
        events, unsent = asyncio.run(_outbox(url))
        assert unsent == len(events) - 2 > 0
    finally:
        asyncio.run(discard_database(database_backend, url))


def test_escalate_refuses_a_bad_date() -> None:
    result = CliRunner().invoke(cli(), ["--as-of", "30/06/2030"])
    assert result.exit_code != 0 and "not an ISO date" in result.output
    assert parse_as_of("2030-06-30").isoformat() == "2030-06-30T00:00:00+00:00"
    assert parse_as_of("2030-06-30T10:00:00+01:00").isoformat() == "2030-06-30T10:00:00+01:00"


def test_the_commands_are_registered_with_the_rectrack_cli() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="rectrack.cli")}
    assert names["escalate"] == "rectrack.recommendations.escalation_cli:escalate"
    from rectrack.recommendations.cli import app

    assert "scheduler" in {c.name for c in app.registered_commands}
