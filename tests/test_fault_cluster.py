"""Fault: a 3-node JetStream cluster on loopback with stream replicas 3 (RECTRACK_STREAM_REPLICAS=3); the node
leading the stream is killed while events flow through rectrack's own outbox relay and idempotent consumer.
Nothing the relay saw acknowledged is lost, nothing is published twice, nothing is handled twice."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path

import nats
import pytest
from sqlalchemy import Column, Integer, String, Table, func, insert, select

from rectrack.common import messaging
from rectrack.common.db import Database, make_metadata
from rectrack.common.events.consumer import EventConsumer
from rectrack.common.events.outbox import Outbox, define_event_tables
from rectrack.common.events.relay import OutboxRelay
from rectrack.common.events.subjects import DEADLETTER_STREAM, RECOMMENDATION_PROGRESS_ADDED, RECOMMENDATION_STREAM
from rectrack.common.settings import PlatformSettings
from rectrack.common.testing import NatsServer, free_port

pytestmark = pytest.mark.slow

EVENTS = 600
RATE = 50.0  # events per second: 12 s of flow
KILL_AFTER_SENT = 200


async def _wait(probe, *, within: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + within
    while True:
        try:
            value = await probe()
        except Exception as exc:  # the cluster may still be electing leaders
            value, error = None, exc
        else:
            error = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what} (last error: {error!r})")
        await asyncio.sleep(interval)


@contextlib.contextmanager
def cluster(tmp_path: Path, size: int = 3):
    """`size` nats-servers routed to each other as one JetStream cluster; all stopped afterwards."""
    cluster_ports = [free_port() for _ in range(size)]
    nodes = [NatsServer(store_dir=str(tmp_path / f"node{i}"), cluster="rectrack-test", cluster_port=cluster_ports[i],
                        routes=[f"nats://127.0.0.1:{p}" for j, p in enumerate(cluster_ports) if j != i],
                        server_name=f"node{i}") for i in range(size)]
    try:
        for node in nodes:
            node.start()
        yield nodes
    finally:
        for node in nodes:
            node.kill()


async def _connect(urls: list[str], name: str) -> nats.aio.client.Client:
    return await nats.connect(servers=urls, name=name, connect_timeout=2, max_reconnect_attempts=-1,
                              reconnect_time_wait=0.2, allow_reconnect=True)


async def test_killing_the_stream_leader_loses_nothing_acknowledged(tmp_path, monkeypatch):
    monkeypatch.setenv("RECTRACK_STREAM_REPLICAS", "3")
    replicas = PlatformSettings().stream_replicas
    assert replicas == 3

    metadata = make_metadata()
    outbox_table, inbox_table = define_event_tables(metadata)
    effects = Table("effects", metadata, Column("seq", Integer, primary_key=True, autoincrement=True),
                    Column("event_id", String(64), nullable=False))
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'service.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    outbox = Outbox(outbox_table, source="cluster-test")

    async def handler(session, envelope) -> None:
        await session.execute(insert(effects).values(event_id=envelope.id))

    async def count(query) -> int:
        async with db.read() as session:
            return int((await session.execute(query)).scalar_one())

    sent_query = select(func.count()).select_from(outbox_table).where(outbox_table.c.sent_at.is_not(None))
    tasks: list[asyncio.Task] = []
    connections = []
    with cluster(tmp_path) as nodes:
        urls = [n.url for n in nodes]
        try:
            publisher = await _connect(urls, "relay")
            subscriber = await _connect(urls, "consumer")
            connections += [publisher, subscriber]
            await _wait(lambda: _declare(publisher.jetstream(), replicas), within=30, what="the R3 streams")
            info = await publisher.jetstream().stream_info(RECOMMENDATION_STREAM.name)
            assert info.config.num_replicas == 3

            relay = OutboxRelay(db, outbox_table, publisher.jetstream(), sweep_seconds=0.5, publish_timeout=2.0)
            consumer = EventConsumer(name="cluster-test", db=db, inbox=inbox_table, js=subscriber.jetstream(),
                                     stream=RECOMMENDATION_STREAM, handler=handler, ack_wait=5.0)
            tasks += [asyncio.create_task(relay.run()), asyncio.create_task(consumer.run())]

            async def produce() -> list[str]:
                ids = []
                started = time.monotonic()
                for n in range(EVENTS):
                    await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
                    async with db.transaction() as session:
                        envelope = await outbox.add(session, RECOMMENDATION_PROGRESS_ADDED, f"rec-{n % 37}",
                                                    {"n": n})
                    ids.append(envelope.id)
                return ids

            async def kill_the_leader() -> tuple[str, set[str]]:
                await _wait(lambda: _at_least(count(sent_query), KILL_AFTER_SENT), within=60,
                            what=f"{KILL_AFTER_SENT} events acknowledged")
                leader = (await publisher.jetstream().stream_info(RECOMMENDATION_STREAM.name)).cluster.leader
                async with db.read() as session:
                    acked = set((await session.execute(select(outbox_table.c.event_id).where(
                        outbox_table.c.sent_at.is_not(None)))).scalars())
                victim = next(n for n in nodes if n.server_name == leader)
                await asyncio.to_thread(victim.kill)
                return leader, acked

            event_ids, (leader, acked_before_kill) = await asyncio.gather(produce(), kill_the_leader())
            assert len(acked_before_kill) >= KILL_AFTER_SENT

            await _wait(lambda: _at_least(count(sent_query), EVENTS), within=60, what="every event acknowledged")
            await _wait(lambda: _at_least(count(select(func.count()).select_from(effects)), EVENTS), within=60,
                        what="every event handled")
            await asyncio.sleep(1.0)  # a duplicate delivery would land now

            # Read the stream back from the surviving nodes.
            survivors = [n.url for n in nodes if n.process is not None]
            assert len(survivors) == 2 and leader not in {n.server_name for n in nodes if n.process is not None}
            stream = await _read_all(survivors, RECOMMENDATION_STREAM.name)
            published = Counter(stream)
            assert set(published) == set(event_ids), "events lost or invented"
            assert acked_before_kill <= set(published), "an acknowledged event was lost with the leader"
            assert max(published.values()) == 1, "an event was published twice"
            async with db.read() as session:
                handled = Counter((await session.execute(select(effects.c.event_id))).scalars())
            assert set(handled) == set(event_ids) and max(handled.values()) == 1, "an event was handled twice"
            deadletters = await subscriber.jetstream().stream_info(DEADLETTER_STREAM.name)
            assert deadletters.state.messages == 0
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for connection in connections:
                with contextlib.suppress(Exception):
                    await connection.close()
            await db.dispose()


async def _declare(js, replicas: int) -> bool:
    await messaging.ensure_streams(js, replicas=replicas)
    return True


async def _at_least(value, minimum: int) -> bool:
    return (await value) >= minimum


async def _read_all(urls: list[str], stream: str) -> list[str]:
    """The envelope id of every message in the stream (read with an ephemeral, unacknowledged consumer)."""
    import json

    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    nc = await _connect(urls, "reader")
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        sub = await js.pull_subscribe(info.config.subjects[0], stream=stream, config=ConsumerConfig(
            ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30))
        ids: list[str] = []
        while len(ids) < info.state.messages:
            ids += [json.loads(m.data)["id"] for m in await sub.fetch(min(500, info.state.messages - len(ids)),
                                                                         timeout=5)]
        return ids
    finally:
        await nc.close()
