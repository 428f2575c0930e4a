"""Fault: SIGKILL each process in turn (bodies, recommendations, notifications, gateway, scheduler) while about
1,000 actions flow through the gateway. Afterwards every accepted action is stored once, every event is in
JetStream once, and every notification is in the delivery log once, delivered."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest

pytestmark = pytest.mark.slow

TOTAL_ACTIONS = 1000
KILL_ORDER = ("bodies", "recommendations", "notifications", "gateway", "scheduler")

PLATFORM_ENV = {
    # Passes every two seconds so the scheduler is busy (and killed) while the load runs.
    "RECTRACK_RECOMMENDATIONS_ESCALATION_INTERVAL_SECONDS": "2",
    "RECTRACK_RELAY_SWEEP_SECONDS": "1",
    # What a killed consumer fetched but never acknowledged comes back after this (default 30 s).
    "RECTRACK_CONSUMER_ACK_WAIT_SECONDS": "10",
    "RECTRACK_NOTIFICATIONS_WORKER_SWEEP_SECONDS": "1",
    # A delivery claimed by a killed notifications process is taken over after its lease.
    "RECTRACK_NOTIFICATIONS_DELIVERY_LEASE_SECONDS": "5",
    "RECTRACK_NOTIFICATIONS_RETRY_BASE_SECONDS": "1",
    "RECTRACK_NOTIFICATIONS_RETRY_MAX_SECONDS": "2",
}


async def _load_with_kills(platform, load, restart) -> list[tuple[str, float, float]]:
    """Run the load; kill and restart one process each time another fifth of it has been answered."""
    kills: list[tuple[str, float, float]] = []

    async def killer() -> None:
        step = TOTAL_ACTIONS // (len(KILL_ORDER) + 1)
        for n, name in enumerate(KILL_ORDER, start=1):
            await load.wait_finished(n * step)
            began = time.monotonic()
            await asyncio.to_thread(platform.kill, name)
            await asyncio.sleep(0.5)
            await asyncio.to_thread(restart, platform, name)
            kills.append((name, began, time.monotonic() - began))

    await asyncio.gather(load.run(), killer())
    return kills


def test_every_process_killed_under_load_loses_and_duplicates_nothing(platform, kit):
    bodies = kit.police_forces(platform, 8)
    staff = kit.api(platform, "inspector", subject=kit.INSPECTOR)
    report = kit.create_report(staff, "Fault test: kills")
    recs = kit.seed_started(platform, report["id"], bodies[:4], groups=10)
    actions = kit.mixed_actions(recs, report["id"], bodies, TOTAL_ACTIONS)
    load = kit.ActionLoad(platform.gateway_url, actions, concurrency=8, rate=40.0)

    kills = asyncio.run(_load_with_kills(platform, load, kit.restart))
    summary = kit.summarise(actions)
    print(summary, kills)

    assert [k[0] for k in kills] == list(KILL_ORDER)
    assert all(p.poll() is None for p in platform.processes.values()), "a restarted process died"
    assert not [a for a in actions if a.outcome == "rejected"], summary
    accepted = [a for a in actions if a.outcome == "accepted"]
    assert len(accepted) >= 0.95 * TOTAL_ACTIONS, summary
    interrupted = [a for a in actions if any(reason != "429" for reason in a.retried_after)]
    assert interrupted, "the kills interrupted nothing: the test tested nothing"

    kit.assert_stored(platform, actions)
    events = kit.wait_for_events(platform, kit.expected_event_keys(actions), timeout=60)
    kit.assert_published_once(events)
    print(Counter(e["type"] for e in events))
    assert any(e["type"] == "recommendation.escalated" for e in events), "the scheduler escalated nothing"
    kit.wait_for_notifications(platform, events, timeout=90)
