"""`rectrack bodies migrate`, `load-demo` (idempotent) and `api-key create` against a fresh SQLite file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rectrack.bodies.cli import app


def test_migrate_load_demo_twice_and_create_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data_dir = tmp_path / "fresh" / "var"
    monkeypatch.setenv("RECTRACK_DATA_DIR", str(data_dir))
    monkeypatch.delenv("RECTRACK_BODIES_DATABASE_URL", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    first = runner.invoke(app, ["load-demo"])
    assert first.exit_code == 0 and "93 created" in first.output
    with sqlite3.connect(data_dir / "bodies.db") as conn:
        events = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
        bodies = conn.execute("SELECT count(*) FROM bodies").fetchone()[0]
    second = runner.invoke(app, ["load-demo"])
    assert second.exit_code == 0 and "0 created, 93 already present" in second.output
    with sqlite3.connect(data_dir / "bodies.db") as conn:
        assert conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == events == 93
        assert conn.execute("SELECT count(*) FROM bodies").fetchone()[0] == bodies == 93

    created = runner.invoke(app, ["api-key", "create", "--body", "west-midlands-police", "--name", "cli"])
    assert created.exit_code == 0 and created.output.startswith("rtk_")
    secret = created.output.strip().split("_", 2)[2]
    with sqlite3.connect(data_dir / "bodies.db") as conn:
        assert secret not in repr(conn.execute("SELECT * FROM api_keys").fetchall())
    missing = runner.invoke(app, ["api-key", "create", "--body", "no-such-body"])
    assert missing.exit_code == 1
