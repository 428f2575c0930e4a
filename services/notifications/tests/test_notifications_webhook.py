"""Signed webhooks to a real HTTP server: verified signature, retries with backoff, giving up, manual retry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from notifications_testkit import (
    INSPECTOR,
    VIEWER,
    NotificationsService,
    body,
    contact,
    eventually,
    issued,
    snapshot,
    verify,
)

from rectrack.common.events import subjects
from rectrack.notifications.models import Delivery

SECRET = "whsec-test-secret-of-some-length"


@dataclass
class Receiver:
    """A real aiohttp server; each path has a script of answers ("hang" never answers)."""

    base_url: str = ""
    scripts: dict[str, list[str]] = field(default_factory=dict)
    received: dict[str, list[tuple[dict[str, str], bytes, str]]] = field(default_factory=dict)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    release = asyncio.Event()

    async def hook(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        raw = await request.read()
        script = state.scripts.setdefault(name, [])
        answer = script.pop(0) if len(script) > 1 else (script[0] if script else "200")
        state.received.setdefault(name, []).append((dict(request.headers), raw, answer))
        if answer == "hang":
            await release.wait()
        return web.Response(status=int(answer) if answer != "hang" else 200)

    app = web.Application()
    app.router.add_post("/hooks/{name}", hook)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.base_url = f"http://{host}:{port}"
    yield state
    release.set()
    import time
    t = time.monotonic()
    await runner.cleanup()
    print("RUNNER", time.monotonic() - t, flush=True)


async def hooked_body(service: NotificationsService, receiver: Receiver, name: str, *script: str) -> str:
    receiver.scripts[name] = list(script)
    await service.bus.body(body(name, [contact("Liaison", f"liaison@{name}.example.org", "liaison")],
                                webhook_url=f"{receiver.base_url}/hooks/{name}", secret=SECRET))
    return name


async def webhook_delivery(service: NotificationsService, event_id: str, *statuses: str) -> Delivery:
    async def check() -> Delivery | None:
        rows = await service.rows(Delivery, Delivery.event_id == event_id, Delivery.channel == "webhook")
        return rows[0] if rows and rows[0].status in statuses else None
    return await eventually(check)


async def test_a_webhook_is_signed_and_verifiable(service: NotificationsService, receiver: Receiver) -> None:
    body_id = await hooked_body(service, receiver, "essex-police", "200")
    rec = snapshot(body_id, reference="PEEL-2023-ESX-R2")
    event = await service.bus.recommendation(subjects.RECOMMENDATION_ISSUED, issued(rec))
    delivery = await webhook_delivery(service, event.id, "delivered")
    [(headers, raw, _)] = receiver.received[body_id]
    assert verify(SECRET, headers, raw)
    assert not verify("another-secret", headers, raw)
    assert not verify(SECRET, headers, raw.replace(b"ESX", b"XXX"))
    assert headers["X-Rectrack-Delivery"] == delivery.id
    doc = json.loads(raw)
    assert doc["kind"] == "recommendation_issued" and doc["reference"] == "PEEL-2023-ESX-R2"
    assert doc["event_id"] == event.id and doc["body_id"] == body_id and doc["recommendation_id"] == rec.id
    assert delivery.attempts == 1 and delivery.recipient == f"{receiver.base_url}/hooks/{body_id}"


async def test_three_500s_then_200_is_one_delivery_after_four_attempts(service: NotificationsService,
                                                                         receiver: Receiver) -> None:
    body_id = await hooked_body(service, receiver, "kent-police", "500", "500", "500", "200")
    event = await service.bus.recommendation(subjects.RECOMMENDATION_ISSUED, issued(snapshot(body_id)))
    delivery = await webhook_delivery(service, event.id, "delivered")
    assert delivery.attempts == 4 and delivery.last_error is None
    answers = [answer for _, _, answer in receiver.received[body_id]]
    assert answers == ["500", "500", "500", "200"]
    assert len({h["X-Rectrack-Delivery"] for h, _, _ in receiver.received[body_id]}) == 1
    outcomes = [o for o in await service.outbox_events(subjects.NOTIFICATION_DELIVERED)
                if o["delivery_id"] == delivery.id]
    assert len(outcomes) == 1 and outcomes[0]["attempts"] == 4
    assert not await service.outbox_events(subjects.NOTIFICATION_FAILED)


async def test_a_silent_receiver_fails_after_the_configured_tries_then_staff_retry(
        service: NotificationsService, receiver: Receiver) -> None:
    body_id = await hooked_body(service, receiver, "surrey-police", "hang")
    event = await service.bus.recommendation(subjects.RECOMMENDATION_ISSUED, issued(snapshot(body_id)))
    failed = await webhook_delivery(service, event.id, "failed")
    assert failed.attempts == 4  # max_attempts in the test settings
    assert "no answer within" in (failed.last_error or "")
    assert len(receiver.received[body_id]) == 4
    [outcome] = await service.outbox_events(subjects.NOTIFICATION_FAILED)
    assert outcome["delivery_id"] == failed.id and outcome["attempts"] == 4 and outcome["error"]

    log = await service.client.get("/notifications/deliveries", params={"status": "failed", "channel": "webhook"},
                                   headers=service.as_(VIEWER))
    assert log.status_code == 200
    assert [(d["id"], d["attempts"], d["status"]) for d in log.json()["items"]] == [(failed.id, 4, "failed")]
    assert log.json()["items"][0]["last_error"].startswith("no answer within")

    assert (await service.client.post(f"/notifications/deliveries/{failed.id}/retry",
                                      headers=service.as_(VIEWER))).status_code == 403
    receiver.scripts[body_id] = ["200"]  # the receiver is mended
    retried = await service.client.post(f"/notifications/deliveries/{failed.id}/retry",
                                        headers=service.as_(INSPECTOR))
    assert retried.status_code == 200 and retried.json()["status"] == "pending"
    done = await webhook_delivery(service, event.id, "delivered")
    assert done.attempts == 5 and done.id == failed.id
    again = await service.client.post(f"/notifications/deliveries/{failed.id}/retry", headers=service.as_(INSPECTOR))
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"
