"""Exactly once: three passes racing on one database, and a pass SIGKILLed between batches then run again."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import nats
from escalation_testkit import DAYS, at, escalated_events, records
from recommendations_testkit import DatabaseTemplates, fresh_database
from sqlalchemy import func, select

from rectrack.common.db import Database
from rectrack.common.events.outbox import Outbox
from rectrack.common.events.relay import OutboxRelay
from rectrack.common.events.subjects import RECOMMENDATION_ESCALATED, RECOMMENDATION_STREAM
from rectrack.common.messaging import ensure_streams
from rectrack.common.testing import discard_database
from rectrack.recommendations.escalation import run_pass
from rectrack.recommendations.escalation_bench import BENCH_DAY, fill
from rectrack.recommendations.ladder import level_for, rank
from rectrack.recommendations.models import OUTBOX, Recommendation

RECTRACK = str(Path(sys.executable).parent / "rectrack")


async def levels(db: Database) -> dict[str, tuple[str, Any]]:
    async with db.read() as session:
        rows = (await session.execute(select(Recommendation.id, Recommendation.escalation_level,
                                             Recommendation.due_date))).all()
    return {row.id: (row.escalation_level, row.due_date) for row in rows}


async def test_three_concurrent_passes_announce_each_level_once(database_backend: str,
                                                                  database_templates: DatabaseTemplates,
                                                                  tmp_path: Path) -> None:
    url = await fresh_database(database_backend, database_templates, tmp_path)
    dbs = [Database(url) for _ in range(3)]
    try:
        await fill(dbs[0], total=600, changing=0)
        day = BENCH_DAY + timedelta(days=75)  # most of the 600 move, many by several rungs at once
        before = await levels(dbs[0])
        expected = {rid: (level, level_for(due, day, DAYS)) for rid, (level, due) in before.items()
                    if level_for(due, day, DAYS) != level}
        going_up = {rid for rid, (old, new) in expected.items() if rank(new) > rank(old)}
        assert len(going_up) > 200

        outbox = Outbox(OUTBOX, source="recommendations")
        results = await asyncio.gather(*(run_pass(db, outbox=outbox, clock=at(day), days=DAYS, batch_size=7)
                                         for db in dbs))

        assert sum(r.changed for r in results) == len(expected)
        changed = Counter(c.recommendation_id for r in results for c in r.changes)
        assert set(changed) == set(expected) and max(changed.values()) == 1
        events = await escalated_events(dbs[0])
        assert Counter(e["subject"] for e in events) == Counter(going_up)
        for event in events:
            old, new = expected[event["subject"]]
            assert (event["data"]["previous_level"], event["data"]["level"]) == (old, new)
        # One record per rung climbed, never two (the primary key would refuse a second anyway).
        climbed = sum(rank(new) - rank(old) for rid, (old, new) in expected.items() if rid in going_up)
        assert len(await records(dbs[0])) == climbed
        after = await levels(dbs[0])
        assert all(level == level_for(due, day, DAYS) for level, due in after.values())
        for db in dbs:
            assert (await run_pass(db, outbox=outbox, clock=at(day), days=DAYS)).changed == 0
    finally:
        for db in dbs:
            await db.dispose()
        await discard_database(database_backend, url)


def escalate_subprocess(url: str, nats_url: str, as_of: str, *, crash: bool, tmp_path: Path,
                        publish: bool) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RECTRACK_RECOMMENDATIONS_DATABASE_URL": url, "RECTRACK_NATS_URL": nats_url,
           "RECTRACK_DATA_DIR": str(tmp_path), "RECTRACK_RECOMMENDATIONS_ESCALATION_BATCH_SIZE": "4"}
    env.pop("RECTRACK_CRASH_AT", None)
    if crash:
        env["RECTRACK_CRASH_AT"] = "escalation.after_batch"
    args = [RECTRACK, "escalate", "--as-of", as_of] + ([] if publish else ["--no-publish"])
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)


async def stream_events(nats_url: str, event_ids: set[str]) -> Counter[str]:
    """How many times each of these event ids sits in the RECOMMENDATION stream."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(RECOMMENDATION_ESCALATED, stream=RECOMMENDATION_STREAM.name)
        seen: Counter[str] = Counter()
        while True:
            try:
                messages = await sub.fetch(500, timeout=1.0)
            except TimeoutError:
                break
            for message in messages:
                envelope = json.loads(message.data)
                if envelope["id"] in event_ids:
                    seen[envelope["id"]] += 1
                await message.ack()
        await sub.unsubscribe()
        return seen
    finally:
        await nc.close()


async def test_pass_killed_between_batches_then_rerun_announces_each_level_once(
        database_backend: str, database_templates: DatabaseTemplates, nats_server: Any, tmp_path: Path) -> None:
    url = await fresh_database(database_backend, database_templates, tmp_path)
    db = Database(url)
    try:
        await fill(db, total=40, changing=18)
        as_of = (BENCH_DAY + timedelta(days=1)).isoformat()

        killed = await asyncio.to_thread(escalate_subprocess, url, nats_server.url, as_of, crash=True,
                                         tmp_path=tmp_path, publish=False)
        assert killed.returncode == -9, killed.stderr
        first = await escalated_events(db)
        assert len(first) == 4  # the first batch committed, with its events; the kill came after it
        assert len(await records(db)) == 4

        rerun = await asyncio.to_thread(escalate_subprocess, url, nats_server.url, as_of, crash=False,
                                        tmp_path=tmp_path, publish=True)
        assert rerun.returncode == 0, rerun.stderr
        assert "14 changed, 14 event(s)" in rerun.stdout
        assert "published" in rerun.stdout

        events = await escalated_events(db)
        assert len(events) == 18 and len({e["subject"] for e in events}) == 18
        assert all(e["data"]["level"] == "due_soon" for e in events)
        assert len(await records(db)) == 18
        async with db.read() as session:
            unsent = (await session.execute(select(func.count()).select_from(OUTBOX)
                                            .where(OUTBOX.c.sent_at.is_(None)))).scalar_one()
        assert unsent == 0

        # Relaying again (a second relay, a sweep) publishes nothing new; JetStream holds each event once.
        nc = await nats.connect(nats_server.url)
        try:
            js = nc.jetstream()
            await ensure_streams(js)
            assert await OutboxRelay(db, OUTBOX, js).publish_pending() == 0
        finally:
            await nc.close()
        seen = await stream_events(nats_server.url, {e["id"] for e in events})
        assert seen == Counter({e["id"]: 1 for e in events})

        again = await run_pass(db, outbox=Outbox(OUTBOX, source="recommendations"),
                               clock=at(BENCH_DAY + timedelta(days=1)), days=DAYS)
        assert again.changed == 0
    finally:
        await db.dispose()
        await discard_database(database_backend, url)
