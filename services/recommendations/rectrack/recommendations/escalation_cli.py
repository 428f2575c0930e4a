"""`rectrack escalate [--as-of ISO-DATE]`: one escalation pass on demand, then the outbox flushed to NATS."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from typing import Annotated

import nats
import typer

from rectrack.common.clock import Clock, FixedClock, SystemClock
from rectrack.common.db import Database
from rectrack.common.events.outbox import Outbox
from rectrack.common.events.relay import OutboxRelay
from rectrack.common.messaging import ensure_streams
from rectrack.common.settings import PlatformSettings, platform_settings
from rectrack.recommendations.config import RecommendationsSettings
from rectrack.recommendations.escalation import PassResult, format_change, run_pass
from rectrack.recommendations.models import OUTBOX
from rectrack.recommendations.scheduler import SERVICE_NAME, ladder_days


def parse_as_of(value: str) -> datetime:
    """An ISO date (midnight UTC) or an ISO datetime (naive means UTC)."""
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), datetime.min.time(), tzinfo=UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO date (2025-06-30) or datetime",
                                 param_hint="--as-of") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def flush_outbox(db: Database, platform: PlatformSettings, *, wait_seconds: float = 2.0) -> int | None:
    """Publish every pending outbox event now; None when NATS cannot be reached."""
    async def quiet(_error: Exception) -> None:
        return None  # an unreachable NATS is an expected outcome here, reported once by the caller

    try:
        # nats-py retries an unreachable server for ever unless attempts are bounded; bound the wait as well.
        nc = await asyncio.wait_for(nats.connect(
            platform.nats_url, name=f"{SERVICE_NAME}-escalate", connect_timeout=wait_seconds, allow_reconnect=False,
            max_reconnect_attempts=1, reconnect_time_wait=0.1, error_cb=quiet), timeout=3 * wait_seconds)
    except Exception:
        return None
    try:
        js = nc.jetstream()
        await ensure_streams(js, replicas=platform.stream_replicas)
        return await OutboxRelay(db, OUTBOX, js, publish_timeout=wait_seconds).publish_pending()
    except Exception:
        return None
    finally:
        await nc.close()


async def escalate_once(settings: RecommendationsSettings, platform: PlatformSettings, clock: Clock, *,
                        publish: bool = True) -> tuple[PassResult, int | None]:
    """Run one pass and (optionally) flush the outbox; returns the pass and how many events went to NATS."""
    db = Database(settings.database(platform))
    try:
        result = await run_pass(db, outbox=Outbox(OUTBOX, source=SERVICE_NAME), clock=clock,
                                days=ladder_days(settings), batch_size=settings.escalation_batch_size)
        published = await flush_outbox(db, platform) if publish else None
        return result, published
    finally:
        await db.dispose()


def escalate(
    as_of: Annotated[str | None, typer.Option("--as-of", help="run the ladder as of this ISO date or datetime "
                                                              "(default: now)")] = None,
    publish: Annotated[bool, typer.Option(help="flush the outbox to NATS after the pass")] = True,
) -> None:
    """Run one escalation pass: print each change of level and publish the recommendation.escalated events."""
    clock: Clock = FixedClock(parse_as_of(as_of)) if as_of else SystemClock()
    platform = platform_settings()
    result, published = asyncio.run(escalate_once(RecommendationsSettings(), platform, clock, publish=publish))
    stamp = result.as_of.isoformat(timespec="seconds")
    if not result.changes:
        typer.echo(f"as of {stamp}: nothing changed")
    else:
        typer.echo(f"as of {stamp}: {result.changed} changed, {result.events} event(s)")
        for change in result.changes:
            typer.echo(f"  {format_change(change)}")
    if not publish:
        return
    if published is None:
        typer.echo(f"NATS not reachable at {platform.nats_url}: the events wait in the outbox and will be "
                   "published by the running service's relay sweep")
    elif published:
        typer.echo(f"published {published} pending event(s) to NATS")
