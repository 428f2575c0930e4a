"""Scenarios at 100,000 and 1,000,000 recommendations: escalation pass time, and the staff summary's answer time
(through the gateway and straight to the service) on the same data."""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text

from rectrack.common.auth import PRINCIPAL_HEADER, InternalSigner, Principal
from rectrack.common.db import Database
from rectrack.common.launcher import LocalPlatform
from rectrack.common.settings import PlatformSettings
from rectrack.common.testing import create_postgres_database, drop_postgres_database
from rectrack.recommendations.escalation_bench import bench_escalation

POSTGRES_ENV = "RECTRACK_BENCH_POSTGRES_URL"
CHANGING = 10_000


@dataclass
class SizeResult:
    """Escalation and summary figures for one backend and size."""

    backend: str
    total: int
    escalation: list[dict[str, Any]] = field(default_factory=list)
    summary_gateway_ms: list[float] = field(default_factory=list)
    summary_direct_ms: list[float] = field(default_factory=list)
    summary_status: int | None = None


@contextmanager
def _scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="rectrack-bench-") as folder:
        yield Path(folder)


async def _new_database(backend: str, folder: Path, n: int) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{folder / f'escalation-{n}.db'}"
    admin = os.environ[POSTGRES_ENV]
    return await create_postgres_database(admin, prefix="rectrack_bench")


async def _discard(backend: str, url: str) -> None:
    if backend == "postgresql":
        await drop_postgres_database(os.environ[POSTGRES_ENV], url)
    else:
        for suffix in ("", "-wal", "-shm"):
            await asyncio.to_thread(Path(url.split("///", 1)[1] + suffix).unlink, missing_ok=True)


async def _clear_outbox(url: str) -> None:
    """The benchmark's escalation events are not for the platform that reads this database next."""
    db = Database(url)
    try:
        async with db.transaction() as session:
            await session.execute(text("DELETE FROM outbox"))
    finally:
        await db.dispose()


def _time_summary(platform: LocalPlatform, staff_token: str, repeats: int) -> tuple[list[float], list[float], int]:
    """Sequential GETs of the summary through the gateway and straight to the service (one warm-up each)."""
    signer = InternalSigner(PlatformSettings().internal_secret)
    principal = Principal(kind="staff", subject="bench-inspector", name="bench-inspector", role="inspector")
    gateway_ms, direct_ms, status = [], [], 0
    with httpx.Client(timeout=600) as client:
        targets = [
            (f"{platform.gateway_url}/api/v1/recommendations/summary",
             lambda: {"Authorization": f"Bearer {staff_token}"}, gateway_ms),
            (f"{platform.url_of('recommendations')}/recommendations/summary",
             lambda: {PRINCIPAL_HEADER: signer.sign(principal)}, direct_ms),
        ]
        for url, headers, sink in targets:
            client.get(url, headers=headers())  # warm-up: caches, query plans
            for _ in range(repeats):
                began = time.perf_counter()
                response = client.get(url, headers=headers())
                elapsed = (time.perf_counter() - began) * 1000
                status = response.status_code
                if response.status_code == 200:
                    sink.append(elapsed)
    return gateway_ms, direct_ms, status


def use_recommendations_database(platform: LocalPlatform, url: str, ready_timeout: float = 120.0) -> None:
    """Restart the platform's recommendations service on another database (the rest keeps running)."""
    platform.extra_env["RECTRACK_RECOMMENDATIONS_DATABASE_URL"] = url
    platform.kill("recommendations")
    platform.start_process("recommendations")
    platform.wait_ready("recommendations", timeout=ready_timeout)


def run_size(platform: LocalPlatform, backend: str, total: int, runs: int, summary_repeats: int, staff_token: str,
             log: Any = print) -> SizeResult:
    """Escalation passes on `runs` fresh databases of `total` rows; the summary on the last of them."""
    result = SizeResult(backend=backend, total=total)
    with _scratch() as folder:
        url = ""
        for n in range(runs):
            if url:
                asyncio.run(_discard(backend, url))
            url = asyncio.run(_new_database(backend, folder, n))
            began = time.perf_counter()
            figures = asyncio.run(bench_escalation(url, total, CHANGING))
            result.escalation.append(figures)
            log(f"  escalation {backend} {total:,} run {n + 1}/{runs}: nothing changing "
                f"{figures['pass_nothing_changes_ms']:.1f} ms, {CHANGING:,} changing "
                f"{figures['pass_changing_ms']:.1f} ms "
                f"(fill {figures['fill_ms'] / 1000:.1f} s, total {time.perf_counter() - began:.1f} s)")
        try:
            asyncio.run(_clear_outbox(url))
            use_recommendations_database(platform, url)
            gateway_ms, direct_ms, status = _time_summary(platform, staff_token, summary_repeats)
            result.summary_gateway_ms, result.summary_direct_ms, result.summary_status = gateway_ms, direct_ms, status
            log(f"  summary {backend} {total:,}: gateway median "
                f"{statistics.median(gateway_ms) if gateway_ms else float('nan'):.1f} ms, "
                f"direct {statistics.median(direct_ms) if direct_ms else float('nan'):.1f} ms (last status {status})")
        finally:
            asyncio.run(_discard(backend, url))
    return result
