"""Events both ways: body.* events on JetStream feed the bodies read model; changes leave through the outbox."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import nats
from recommendations_testkit import INSPECTOR, Service, body_event
from sqlalchemy import select

from rectrack.common import messaging
from rectrack.common.events.envelope import Envelope
from rectrack.common.events.subjects import (
    RECOMMENDATION_CREATED,
    RECOMMENDATION_ISSUED,
    RECOMMENDATION_TRANSITIONED,
    REPORT_CREATED,
)
from rectrack.recommendations.models import OUTBOX, Body


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_bodies_read_model_from_jetstream(service: Service, nats_server) -> None:
    runtime = service.app.state.runtime
    suffix = uuid.uuid4().hex[:8]
    fresh, closing, sentinel = f"fresh-{suffix}", f"closing-{suffix}", f"sentinel-{suffix}"
    nc = await nats.connect(nats_server.url)
    try:
        js = nc.jetstream()
        await messaging.ensure_streams(js)

        async def publish(envelope: Envelope) -> None:
            await js.publish(envelope.type, envelope.to_bytes(), headers={"Nats-Msg-Id": envelope.id})

        async def status_of(code: str) -> str | None:
            async with runtime.db.read() as session:
                return (await session.execute(select(Body.status).where(Body.id == code))).scalar_one_or_none()

        await publish(body_event(fresh, "Fresh Police", "police_force", "east", "active"))
        await publish(body_event(closing, "Closing Police", "police_force", "east", "active"))
        await publish(body_event(closing, "Closing Police", "police_force", "east", "abolished", version=3,
                                 event_type="body.deactivated"))
        # A stale update arriving late must not bring the body back.
        await publish(body_event(closing, "Closing Police", "police_force", "east", "active", version=2,
                                 event_type="body.updated"))
        await publish(body_event(sentinel, "Sentinel", "other", None, "active"))

        async def sentinel_seen() -> bool:
            return await status_of(sentinel) == "active"

        await eventually(sentinel_seen)
    finally:
        await nc.close()
    assert await status_of(closing) == "abolished"
    report = await service.report()
    accepted = await service.recommend(report["id"], [fresh])
    assert accepted[0]["body_name"] == "Fresh Police"
    refused = await service.post("/recommendations", INSPECTOR, json={
        "report_id": report["id"], "reference": "R9", "title": "t", "text": "x",
        "recipient_body_ids": [fresh, closing, "no-such-police"]})
    assert refused.status_code == 422
    problem = refused.json()
    assert {e["body_id"] for e in problem["errors"]} == {closing, "no-such-police"}
    assert closing in problem["detail"] and "no-such-police" in problem["detail"]


async def test_changes_reach_jetstream_through_the_outbox(service: Service, nats_server) -> None:
    runtime = service.app.state.runtime
    nc = await nats.connect(nats_server.url)
    received: list[Envelope] = []

    async def on_message(msg) -> None:
        envelope = Envelope.from_bytes(msg.data)
        assert envelope.type == msg.subject
        received.append(envelope)

    try:
        await nc.subscribe("recommendation.>", cb=on_message)
        await nc.flush()
        report = await service.report()
        drafts = await service.recommend(report["id"], ["force-a", "force-b"], issue=False)
        issued = await service.act(drafts[0]["id"], INSPECTOR, "issue")
        assert issued.status_code == 200
        ids = {d["id"] for d in drafts} | {report["id"]}

        async def outbox_rows() -> list:
            async with runtime.db.read() as session:
                return list((await session.execute(select(OUTBOX.c.event_type, OUTBOX.c.payload, OUTBOX.c.sent_at)
                                                   .order_by(OUTBOX.c.seq))).all())

        rows = await outbox_rows()
        assert [r.event_type for r in rows] == [REPORT_CREATED, RECOMMENDATION_CREATED, RECOMMENDATION_CREATED,
                                                RECOMMENDATION_TRANSITIONED, RECOMMENDATION_ISSUED]

        async def all_sent() -> bool:
            mine = [e for e in received if e.subject in ids]
            return len(mine) == 5 and all(r.sent_at is not None for r in await outbox_rows())

        await eventually(all_sent)
    finally:
        await nc.close()
    mine = [e for e in received if e.subject in ids]
    by_type = {}
    for envelope in mine:
        by_type.setdefault(envelope.type, []).append(envelope)
    assert {e.subject for e in by_type[RECOMMENDATION_CREATED]} == {d["id"] for d in drafts}
    (transitioned,) = by_type[RECOMMENDATION_TRANSITIONED]
    assert transitioned.subject == drafts[0]["id"] and transitioned.data["action"] == "issue"
    assert transitioned.data["from_state"] == "draft" and transitioned.data["to_state"] == "issued"
    (issue,) = by_type[RECOMMENDATION_ISSUED]
    snapshot = issue.data["recommendation"]
    assert snapshot["state"] == "issued" and snapshot["body_name"] == "Force A Police"
    assert snapshot["escalation_level"] == "none" and issue.data["actor"]["subject"] == "ida"
    assert by_type[REPORT_CREATED][0].subject == report["id"]
