"""Fault: the NATS server stops for 20 seconds under load. Writes keep succeeding (each service's outbox holds
the events), and once NATS is back every event is published once and every notification delivered once."""

from __future__ import annotations

import asyncio
import time

import pytest

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = 20.0
RATE = 20.0  # actions per second
TOTAL_ACTIONS = 600  # 30 s of load: 5 s before the outage, 20 s during, 5 s after

PLATFORM_ENV = {
    "RECTRACK_RELAY_SWEEP_SECONDS": "1",
    "RECTRACK_NOTIFICATIONS_WORKER_SWEEP_SECONDS": "1",
    "RECTRACK_RECOMMENDATIONS_ESCALATION_INTERVAL_SECONDS": "3600",
}


async def _load_with_outage(platform, load) -> tuple[float, float]:
    async def outage() -> tuple[float, float]:
        await asyncio.sleep(5.0)
        down = time.monotonic()
        await asyncio.to_thread(platform.nats.stop)
        await asyncio.sleep(OUTAGE_SECONDS)
        await asyncio.to_thread(platform.nats.start)
        return down, time.monotonic()

    _, window = await asyncio.gather(load.run(), outage())
    return window


def test_writes_continue_while_nats_is_down_and_everything_arrives_after(platform, kit):
    bodies = kit.police_forces(platform, 6)
    staff = kit.api(platform, "inspector", subject=kit.INSPECTOR)
    report = kit.create_report(staff, "Fault test: NATS outage")
    recs = kit.seed_started(platform, report["id"], bodies[:3], groups=5)
    actions = kit.mixed_actions(recs, report["id"], bodies, TOTAL_ACTIONS, create_share=0.25, due_in_days=60)
    load = kit.ActionLoad(platform.gateway_url, actions, concurrency=8, rate=RATE)

    down, up = asyncio.run(_load_with_outage(platform, load))
    summary = kit.summarise(actions)
    print(summary)

    # Every write was accepted at once, NATS or not: nothing needed a retry.
    assert all(a.outcome == "accepted" for a in actions), summary
    during = [a for a in actions if down + 1 < a.started and a.answered < up]
    assert len(during) >= RATE * OUTAGE_SECONDS / 2, f"only {len(during)} actions ran during the outage"
    assert all(a.attempts == 1 for a in during), summary
    assert any(a.kind == "create" for a in during)

    kit.assert_stored(platform, actions)
    events = kit.wait_for_events(platform, kit.expected_event_keys(actions), timeout=60)
    kit.assert_published_once(events)
    kit.wait_for_notifications(platform, events, timeout=60)
