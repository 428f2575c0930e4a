"""The delivery worker: sends queued e-mail and webhooks after the consumer's commit, retries with backoff.

Woken by every commit that queued a delivery (so a notice leaves within milliseconds), and also at the
earliest due retry and every sweep interval. Each delivery is claimed (PostgreSQL: FOR UPDATE SKIP LOCKED;
everywhere: a version check) and leased; if this process dies mid-send, the delivery stays `sending` until
the lease runs out and is then sent again: in that crash window a receiver may get one e-mail or webhook
twice, both carrying the same delivery id (Message-ID / X-Rectrack-Delivery) so it can drop the second.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Callable, Mapping
from datetime import timedelta

from rectrack.common.clock import Clock, SystemClock
from rectrack.common.db import CommitSignal, Database
from rectrack.common.events.outbox import Outbox
from rectrack.common.faults import crash_point
from rectrack.notifications import deliveries
from rectrack.notifications.channels.base import Channel, DeliveryResult, Message, Recipient
from rectrack.notifications.config import NotificationsSettings
from rectrack.notifications.retry import next_attempt_delay, should_give_up

log = logging.getLogger(__name__)


class DeliveryWorker:
    """Claims due deliveries, sends them through their channel, and records what happened."""

    def __init__(self, *, db: Database, outbox: Outbox, channels: Mapping[str, Channel],
                 settings: NotificationsSettings, clock: Clock | None = None,
                 rng: Callable[[], float] = random.random) -> None:
        self.db = db
        self.outbox = outbox
        self.channels = dict(channels)
        self.settings = settings
        self.clock = clock or SystemClock()
        self.rng = rng
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self.commits = CommitSignal(db, deliveries.WAKE_FLAG)

    def wake(self) -> None:
        """Look for due deliveries now (thread-safe)."""
        self.commits.set()

    async def run(self) -> None:
        """Deliver for ever."""
        self.commits.bind()
        try:
            while True:
                self.commits.event.clear()
                free = self.settings.worker_concurrency - len(self._inflight)
                wanted = min(free, self.settings.worker_batch_size)
                if self._inflight and free < max(1, self.settings.worker_concurrency // 2):
                    wanted = 0  # claim in batches, not one transaction per finished send
                try:
                    claimed = await self._claim(wanted) if wanted > 0 else []
                    for item in claimed:
                        task = asyncio.create_task(self._deliver(item), name=f"delivery-{item.id}")
                        self._inflight[item.id] = task
                        task.add_done_callback(functools.partial(self._done, item.id))
                    if wanted > 0 and len(claimed) == wanted:
                        continue  # there may be more due
                    timeout = await self._until_next_due() if wanted > 0 else self.settings.worker_sweep_seconds
                    if not claimed:
                        # A due row we could not take (ours still in flight past its lease): do not spin.
                        timeout = max(timeout, 0.05)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # database busy or away: the deliveries wait, nothing is lost
                    log.warning("delivery worker could not claim deliveries: %s", exc)
                    timeout = min(1.0, self.settings.worker_sweep_seconds)
                if timeout > 0:
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(timeout):
                            await self.commits.event.wait()
        finally:
            for task in list(self._inflight.values()):
                task.cancel()

    def _done(self, key: str, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(key, None)
        self.commits.set()

    async def _claim(self, limit: int) -> list[deliveries.Claimed]:
        async with self.db.transaction() as session:
            return await deliveries.claim_due(
                session, now=self.clock.now(), limit=limit, lease_seconds=self.settings.delivery_lease_seconds,
                exclude=set(self._inflight), skip_locked=not self.db.sqlite)

    async def _until_next_due(self) -> float:
        async with self.db.read() as session:
            due = await deliveries.next_due(session)
        sweep = self.settings.worker_sweep_seconds
        if due is None:
            return sweep
        return max(0.0, min(sweep, (due - self.clock.now()).total_seconds()))

    async def _deliver(self, claimed: deliveries.Claimed) -> None:
        row = claimed.row
        try:
            result = await self._send(claimed)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a channel must not raise; if one does, it is a retryable failure
            log.exception("channel %s raised on delivery %s", row["channel"], claimed.id)
            result = DeliveryResult.retryable(f"{type(exc).__name__}: {exc}")
        crash_point("notifications.worker.after_send")
        now = self.clock.now()
        attempts_in_budget = claimed.attempts - int(row["budget_start"] or 0)
        if result.ok:
            status, next_at, error = deliveries.DELIVERED, None, None
        elif result.permanent or should_give_up(attempts_in_budget, self.settings.max_attempts):
            status, next_at, error = deliveries.FAILED, None, result.detail
        else:
            delay = next_attempt_delay(attempts_in_budget, base_seconds=self.settings.retry_base_seconds,
                                       max_seconds=self.settings.retry_max_seconds, rng=self.rng)
            status, next_at, error = deliveries.PENDING, now + timedelta(seconds=delay), result.detail
        try:
            async with self.db.transaction() as session:
                kept = await deliveries.settle(session, self.outbox, claimed, status=status, now=now, error=error,
                                               next_attempt_at=next_at)
        except Exception:
            # The lease runs out and the delivery is tried again: at worst one more send of the same delivery id.
            log.exception("could not record the outcome of delivery %s", claimed.id)
            return
        if not kept:
            log.warning("delivery %s was reclaimed by another worker while it was being sent", claimed.id)
        elif status == deliveries.FAILED:
            log.warning("delivery %s to %s via %s failed after %d attempts: %s", claimed.id, row["recipient"],
                        row["channel"], claimed.attempts, error)

    async def _send(self, claimed: deliveries.Claimed) -> DeliveryResult:
        row = claimed.row
        channel = self.channels.get(row["channel"])
        if channel is None:
            return DeliveryResult.failed_permanently(f"no channel {row['channel']!r} is configured")
        recipient = Recipient(channel=row["channel"], address=row["recipient"], name=row["recipient_name"],
                              secret=claimed.webhook_secret if row["channel"] == "webhook" else None)
        message = Message(subject=row["subject"], text=row["text"], html=row["html"], data=dict(row["data"] or {}))
        return await channel.send(recipient, message, delivery_id=claimed.id)
