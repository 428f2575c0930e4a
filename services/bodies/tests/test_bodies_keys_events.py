"""API keys (shown once, stored hashed, revocable, verified for the gateway) and body.* events on JetStream."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import nats
from bodies_testkit import ADMIN, INSPECTOR, SERVICE, VIEWER, BodiesService, body_principal
from nats.js.api import DeliverPolicy
from nats.js.errors import NotFoundError
from sqlalchemy import text

from rectrack.bodies.models import ApiKey
from rectrack.common.contracts import BodyV1
from rectrack.common.events.envelope import Envelope


async def make_body(svc: BodiesService, **extra: Any) -> str:
    code = f"keyed-{uuid.uuid4().hex[:8]}"
    doc = {"code": code, "name": f"Keyed {code}", "kind": "fire_and_rescue_service", "region": "London", **extra}
    response = await svc.client.post("/bodies", json=doc, headers=svc.as_(ADMIN))
    assert response.status_code == 201, response.text
    return code


async def verify(svc: BodiesService, key: str) -> Any:
    return await svc.client.post("/internal/api-keys/verify", json={"key": key}, headers=svc.as_(SERVICE))


async def test_api_key_lifecycle(bodies: BodiesService) -> None:
    code = await make_body(bodies)
    created = await bodies.client.post(f"/bodies/{code}/api-keys", json={"name": "case system"},
                                       headers=bodies.as_(ADMIN))
    assert created.status_code == 201, created.text
    doc = created.json()
    key = doc["key"]
    assert key.startswith(doc["prefix"]) and doc["prefix"] == f"rtk_{doc['id']}_"
    assert created.headers["cache-control"] == "no-store"
    secret = key[len(doc["prefix"]):]
    assert len(secret) >= 40

    listed = await bodies.client.get(f"/bodies/{code}/api-keys", headers=bodies.as_(VIEWER))
    assert listed.status_code == 200
    [item] = listed.json()["items"]
    assert item["id"] == doc["id"] and item["prefix"] == doc["prefix"] and item["name"] == "case system"
    assert item["last_used_at"] is None and item["revoked_at"] is None and "key" not in item
    assert secret not in listed.text

    # Stored hashed: no column of any row holds the secret or the whole key.
    async with bodies.runtime.db.read() as session:
        rows = (await session.execute(text("SELECT * FROM api_keys"))).all()
        outbox = (await session.execute(text("SELECT payload FROM outbox"))).all()
        stored = await session.get(ApiKey, doc["id"])
    dump = repr(rows) + repr(outbox)
    assert secret not in dump and key not in dump
    assert stored is not None and len(stored.secret_sha256) == 64

    verified = await verify(bodies, key)
    assert verified.status_code == 200, verified.text
    assert verified.json() == {"body_id": code, "key_id": doc["id"], "name": "case system"}
    used = (await bodies.client.get(f"/bodies/{code}/api-keys", headers=bodies.as_(ADMIN))).json()["items"][0]
    assert used["last_used_at"] is not None

    # Tampering with any part of the key fails.
    for wrong in (key[:-1] + ("A" if key[-1] != "A" else "B"), f"rtk_{'0' * 16}_{secret}", "rtk_x", "nonsense", ""):
        response = await verify(bodies, wrong)
        assert response.status_code in (401, 422), wrong
        assert response.headers["content-type"] == "application/problem+json"

    # Only internal services may ask.
    assert (await bodies.client.post("/internal/api-keys/verify", json={"key": key},
                                     headers=bodies.as_(ADMIN))).status_code == 403

    revoked = await bodies.client.delete(f"/bodies/{code}/api-keys/{doc['id']}", headers=bodies.as_(ADMIN))
    assert revoked.status_code == 204
    assert (await verify(bodies, key)).status_code == 401
    item = (await bodies.client.get(f"/bodies/{code}/api-keys", headers=bodies.as_(ADMIN))).json()["items"][0]
    assert item["revoked_at"] is not None and item["revoked_by"] == "staff:ada"
    assert (await bodies.client.delete(f"/bodies/{code}/api-keys/{doc['id']}",
                                       headers=bodies.as_(ADMIN))).status_code == 204


async def test_who_manages_keys(bodies: BodiesService) -> None:
    mine, theirs = await make_body(bodies), await make_body(bodies)
    user = bodies.as_(body_principal(mine))
    own = await bodies.client.post(f"/bodies/{mine}/api-keys", json={"name": "ours"}, headers=user)
    assert own.status_code == 201
    assert (await bodies.client.get(f"/bodies/{mine}/api-keys", headers=user)).json()["total"] == 1
    # Another body's keys do not exist for this body.
    assert (await bodies.client.get(f"/bodies/{theirs}/api-keys", headers=user)).status_code == 404
    assert (await bodies.client.post(f"/bodies/{theirs}/api-keys", json={}, headers=user)).status_code == 404
    assert (await bodies.client.delete(f"/bodies/{theirs}/api-keys/{own.json()['id']}",
                                       headers=bodies.as_(ADMIN))).status_code == 404
    # A system authenticated by an API key cannot mint more keys.
    system = bodies.as_(body_principal(mine, subject=f"api-key:{own.json()['id']}"))
    assert (await bodies.client.post(f"/bodies/{mine}/api-keys", json={}, headers=system)).status_code == 403
    assert (await bodies.client.delete(f"/bodies/{mine}/api-keys/{own.json()['id']}",
                                       headers=system)).status_code == 403
    assert (await bodies.client.get(f"/bodies/{mine}/api-keys", headers=system)).status_code == 200
    # Staff below admin read keys but do not manage them.
    assert (await bodies.client.get(f"/bodies/{theirs}/api-keys", headers=bodies.as_(INSPECTOR))).status_code == 200
    assert (await bodies.client.post(f"/bodies/{theirs}/api-keys", json={},
                                     headers=bodies.as_(INSPECTOR))).status_code == 403
    # A deactivated body gets no keys and its keys stop working.
    await bodies.client.post(f"/bodies/{mine}/deactivate", json={"status": "abolished", "reason": "r"},
                             headers=bodies.as_(ADMIN))
    assert (await verify(bodies, own.json()["key"])).status_code == 401
    assert (await bodies.client.post(f"/bodies/{mine}/api-keys", json={},
                                     headers=bodies.as_(ADMIN))).status_code == 409


async def _wait_for_stream(js: Any) -> None:
    for _ in range(100):
        try:
            await js.stream_info("BODY")
            return
        except NotFoundError:
            await asyncio.sleep(0.1)
    raise AssertionError("BODY stream never appeared")


async def test_body_events_reach_jetstream(bodies: BodiesService) -> None:
    nc = await nats.connect(bodies.nats_url)
    try:
        js = nc.jetstream()
        await _wait_for_stream(js)
        # Only what happens from here on: the shared test server holds other tests' events too.
        sub = await js.subscribe("body.>", deliver_policy=DeliverPolicy.NEW, ordered_consumer=True)
        code = await make_body(bodies, webhook_url="https://hooks.example.org/x", webhook_secret="0123456789abcdef")
        patched = await bodies.client.patch(f"/bodies/{code}", json={"region": "South East"},
                                            headers={**bodies.as_(ADMIN), "If-Match": '"1"'})
        assert patched.status_code == 200
        gone = await bodies.client.post(f"/bodies/{code}/deactivate", json={"status": "merged", "reason": "merger"},
                                        headers=bodies.as_(ADMIN))
        assert gone.status_code == 200
        mine: list[Envelope] = []
        async with asyncio.timeout(30):
            while len(mine) < 3:
                message = await sub.next_msg(timeout=25)
                envelope = Envelope.from_bytes(message.data)
                if envelope.subject == code:
                    assert message.subject == envelope.type
                    mine.append(envelope)
        await sub.unsubscribe()
    finally:
        await nc.close()

    assert [e.type for e in mine] == ["body.created", "body.updated", "body.deactivated"]
    payloads = [BodyV1.model_validate(e.data) for e in mine]
    assert [p.version for p in payloads] == [1, 2, 3]
    assert payloads[1].region == "South East" and payloads[2].status == "merged"
    assert payloads[0].webhook_secret == "0123456789abcdef"  # the internal bus carries it for webhook signing
    assert all(e.source == "bodies" and e.id for e in mine)

    # The relay marks rows sent after the PubAck; give it a moment to commit that.
    for _ in range(50):
        async with bodies.runtime.db.read() as session:
            unsent = (await session.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL"))).scalar_one()
        if unsent == 0:
            break
        await asyncio.sleep(0.1)
    assert unsent == 0
