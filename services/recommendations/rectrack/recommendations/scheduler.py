"""The escalation scheduler process: a pass every interval while this replica holds the lease.

Started as `rectrack recommendations scheduler` (make run starts it beside the service). It runs its own outbox
relay, so the events of a pass reach NATS at commit rather than at the service's next relay sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable
from typing import Annotated

import typer

from rectrack.common.app import ServiceRuntime
from rectrack.common.clock import Clock, SystemClock
from rectrack.common.db import new_id
from rectrack.common.events.outbox import Outbox
from rectrack.common.logs import configure_logging
from rectrack.common.settings import PlatformSettings, platform_settings
from rectrack.recommendations import lease
from rectrack.recommendations.config import SERVICE_NAME, RecommendationsSettings
from rectrack.recommendations.escalation import PassResult, run_pass
from rectrack.recommendations.ladder import LadderDays
from rectrack.recommendations.models import INBOX, OUTBOX

log = logging.getLogger(__name__)



def ladder_days(settings: RecommendationsSettings) -> LadderDays:
    """The ladder's days from the settings (refused at start when inconsistent)."""
    return LadderDays(due_soon=settings.escalation_due_soon_days, escalated=settings.escalation_escalated_days,
                      engage=settings.escalation_engage_days)


def lease_ttl(interval_seconds: float) -> float:
    """How long a replica keeps the lease between renewals: three intervals, at least a minute."""
    return max(3 * interval_seconds, 60.0)


class Scheduler:
    """Runs escalation passes at the configured interval; one replica at a time by the lease."""

    def __init__(self, settings: RecommendationsSettings, *, platform: PlatformSettings | None = None,
                 clock: Clock | None = None, lease_clock: Clock | None = None,
                 on_pass: Callable[[PassResult], None] | None = None) -> None:
        self.settings = settings
        self.platform = platform or platform_settings()
        self.days = ladder_days(settings)
        self.clock = clock or SystemClock()
        # The lease runs on real time even when the ladder's clock is moved (tests, demos).
        self.lease_clock = lease_clock or SystemClock()
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{new_id()[:8]}"
        self.runtime = ServiceRuntime(name=f"{SERVICE_NAME}-scheduler", platform=self.platform,
                                      database_url=settings.database(self.platform),
                                      outbox_table=OUTBOX, inbox_table=INBOX)
        self.outbox = Outbox(OUTBOX, source=SERVICE_NAME)
        self.on_pass = on_pass
        self.passes = 0

    async def tick(self) -> PassResult | None:
        """Take (or renew) the lease and run one pass; None when another replica holds the lease."""
        ttl = lease_ttl(self.settings.escalation_interval_seconds)
        if not await lease.acquire(self.runtime.db, holder=self.holder, ttl_seconds=ttl, now=self.lease_clock.now()):
            return None
        result = await run_pass(self.runtime.db, outbox=self.outbox, clock=self.clock, days=self.days,
                                batch_size=self.settings.escalation_batch_size, keep_changes=False)
        self.passes += 1
        if result.changed:
            log.info("escalation pass: %d changed, %d events, %d batches in %.1f ms", result.changed, result.events,
                     result.batches, result.elapsed_ms)
        else:
            log.debug("escalation pass: nothing changed (%.1f ms)", result.elapsed_ms)
        if self.on_pass is not None:
            self.on_pass(result)
        return result

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Pass, wait an interval, pass again, until `stop` is set or the task is cancelled."""
        stop = stop or asyncio.Event()
        await self.runtime.start()
        log.info("escalation scheduler %s: every %ss, ladder %s", self.holder,
                 self.settings.escalation_interval_seconds, self.days)
        try:
            while not stop.is_set():
                try:
                    await self.tick()
                except asyncio.CancelledError:
                    raise
                except Exception:  # a database hiccup must not end the scheduler; the next tick retries
                    log.exception("escalation pass failed; retrying at the next interval")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.settings.escalation_interval_seconds)
        finally:
            with contextlib.suppress(Exception):
                await lease.release(self.runtime.db, holder=self.holder, now=self.lease_clock.now())
            await self.runtime.stop()


async def _serve_health(port: int, host: str) -> asyncio.Server:
    """A tiny liveness endpoint: any request gets `200 ok` while the process lives."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader.readline(), 5)
            body = b'{"status":"ok"}'
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                         + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, host, port)


async def run_scheduler(settings: RecommendationsSettings | None = None, *, health_port: int | None = None) -> None:
    """The scheduler process's main coroutine."""
    settings = settings or RecommendationsSettings()
    scheduler = Scheduler(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):  # finish the batch in hand, release the lease, exit 0
        loop.add_signal_handler(signum, stop.set)
    server = await _serve_health(health_port, settings.host) if health_port else None
    try:
        await scheduler.run(stop)
    finally:
        if server is not None:
            server.close()


def scheduler_command(
    health_port: Annotated[int | None, typer.Option(help="answer GET /healthz on this port (liveness)")] = None,
) -> None:
    """Run the escalation scheduler: a pass every RECTRACK_RECOMMENDATIONS_ESCALATION_INTERVAL_SECONDS."""
    platform = platform_settings()
    configure_logging(f"{SERVICE_NAME}-scheduler", level=platform.log_level, json=platform.log_json)
    asyncio.run(run_scheduler(health_port=health_port))
