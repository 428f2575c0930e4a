"""The scheduler process: the lease (one replica at a time), and the loop running passes whose events reach NATS."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from escalation_testkit import at, escalated_events
from recommendations_testkit import DatabaseTemplates, fresh_database
from sqlalchemy import func, select

from rectrack.common.clock import FixedClock
from rectrack.common.db import Database
from rectrack.common.settings import platform_settings
from rectrack.common.testing import discard_database, free_port, wait_for_port
from rectrack.recommendations import lease
from rectrack.recommendations.config import RecommendationsSettings
from rectrack.recommendations.escalation import PassResult
from rectrack.recommendations.escalation_bench import BENCH_DAY, fill
from rectrack.recommendations.models import OUTBOX
from rectrack.recommendations.scheduler import Scheduler, lease_ttl

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def database(database_backend: str, database_templates: DatabaseTemplates,
                   tmp_path: Path) -> AsyncIterator[str]:
    url = await fresh_database(database_backend, database_templates, tmp_path)
    yield url
    await discard_database(database_backend, url)


async def test_lease_is_held_by_one_holder_until_it_expires_or_is_released(database: str) -> None:
    dbs = [Database(database) for _ in range(3)]
    try:
        won = await asyncio.gather(*(lease.acquire(db, holder=f"r{i}", ttl_seconds=60, now=T0)
                                     for i, db in enumerate(dbs)))
        assert sum(won) == 1
        holder = f"r{won.index(True)}"
        other = next(f"r{i}" for i in range(3) if f"r{i}" != holder)
        db = dbs[0]
        assert await lease.holder_of(db, now=T0) == holder
        assert await lease.acquire(db, holder=holder, ttl_seconds=60, now=T0 + timedelta(seconds=50))  # renewed
        assert not await lease.acquire(db, holder=other, ttl_seconds=60, now=T0 + timedelta(seconds=100))
        # Not renewed in time: the other replica takes over, and the first one no longer holds it.
        assert await lease.acquire(db, holder=other, ttl_seconds=60, now=T0 + timedelta(seconds=111))
        assert not await lease.acquire(db, holder=holder, ttl_seconds=60, now=T0 + timedelta(seconds=112))
        assert await lease.holder_of(db, now=T0 + timedelta(seconds=112)) == other
        # Released: free at once.
        assert not await lease.release(db, holder=holder, now=T0 + timedelta(seconds=113))
        assert await lease.release(db, holder=other, now=T0 + timedelta(seconds=113))
        assert await lease.holder_of(db, now=T0 + timedelta(seconds=114)) is None
        assert await lease.acquire(db, holder=holder, ttl_seconds=60, now=T0 + timedelta(seconds=114))
    finally:
        for db in dbs:
            await db.dispose()


def test_lease_outlives_several_intervals() -> None:
    assert lease_ttl(60) == 180 and lease_ttl(0.5) == 60


async def test_only_the_lease_holder_runs_passes(database: str, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    monkeypatch.setenv("RECTRACK_DATA_DIR", str(tmp_path))
    platform_settings.cache_clear()
    settings = RecommendationsSettings(database_url=database)
    first = Scheduler(settings, clock=at(BENCH_DAY), lease_clock=FixedClock(T0))
    second = Scheduler(settings, clock=at(BENCH_DAY), lease_clock=FixedClock(T0))
    try:
        assert isinstance(await first.tick(), PassResult)
        assert await second.tick() is None
        assert isinstance(await first.tick(), PassResult)
    finally:
        await first.runtime.db.dispose()
        await second.runtime.db.dispose()


async def test_scheduler_runs_passes_at_its_interval_and_its_relay_publishes(
        database: str, nats_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECTRACK_NATS_URL", nats_server.url)
    monkeypatch.setenv("RECTRACK_DATA_DIR", str(tmp_path))
    platform_settings.cache_clear()
    seed = Database(database)
    try:
        await fill(seed, total=25, changing=5)
    finally:
        await seed.dispose()

    ladder_clock = at(BENCH_DAY)
    passes: list[PassResult] = []
    settings = RecommendationsSettings(database_url=database, escalation_interval_seconds=0.1,
                                       escalation_batch_size=2)
    scheduler = Scheduler(settings, clock=ladder_clock, on_pass=passes.append)
    stop = asyncio.Event()
    task = asyncio.create_task(scheduler.run(stop))
    db = Database(database)
    try:
        async def until(predicate: Any, within: float = 15.0) -> None:
            deadline = asyncio.get_running_loop().time() + within
            while not await predicate():
                assert asyncio.get_running_loop().time() < deadline, "timed out"
                await asyncio.sleep(0.05)

        async def passed() -> bool:
            return len(passes) >= 2

        await until(passed)
        assert all(p.changed == 0 for p in passes)  # nothing is due on BENCH_DAY
        ladder_clock.set(ladder_clock.now() + timedelta(days=1))

        async def five_published() -> bool:
            async with db.read() as session:
                sent = (await session.execute(select(func.count()).select_from(OUTBOX)
                                              .where(OUTBOX.c.sent_at.is_not(None)))).scalar_one()
            # The relay may publish a batch before the pass that wrote it has returned: wait for both.
            return bool(sent == 5) and sum(p.changed for p in passes) == 5

        await until(five_published)
        assert sum(p.changed for p in passes) == 5 and sum(p.events for p in passes) == 5
        assert len(await escalated_events(db)) == 5
        assert await lease.holder_of(db, now=datetime.now(UTC)) == scheduler.holder
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        assert await lease.holder_of(db, now=datetime.now(UTC)) is None  # released on the way out
        await db.dispose()


async def test_scheduler_process_answers_healthz_and_stops_cleanly_on_sigterm(
        database_templates: DatabaseTemplates, nats_server: Any, tmp_path: Path) -> None:
    url = await fresh_database("sqlite", database_templates, tmp_path)
    port = free_port()
    env = {**os.environ, "RECTRACK_RECOMMENDATIONS_DATABASE_URL": url, "RECTRACK_NATS_URL": nats_server.url,
           "RECTRACK_DATA_DIR": str(tmp_path), "RECTRACK_RECOMMENDATIONS_ESCALATION_INTERVAL_SECONDS": "0.2"}
    env.pop("RECTRACK_CRASH_AT", None)
    log = (tmp_path / "scheduler.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "rectrack"), "recommendations", "scheduler", "--health-port", str(port),
        env=env, stdout=log, stderr=log)
    try:
        try:
            await asyncio.to_thread(wait_for_port, port, timeout=60)
        except TimeoutError:
            raise AssertionError((tmp_path / "scheduler.log").read_text()) from None
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b'{"status":"ok"}')
        db = Database(url)
        try:
            async def holder() -> str | None:
                return await lease.holder_of(db, now=datetime.now(UTC))

            for _ in range(100):
                if await holder():
                    break
                await asyncio.sleep(0.1)
            assert await holder() is not None  # it ran a pass under the lease
            process.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(process.wait(), 20) == 0
            assert await holder() is None
        finally:
            await db.dispose()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        log.close()
