"""The bodies API on a migrated database (SQLite, and PostgreSQL when configured): CRUD, scoping, versions."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from bodies_testkit import ADMIN, INSPECTOR, VIEWER, BodiesService, body_principal
from sqlalchemy import func, select

from rectrack.bodies.demo import load_demo
from rectrack.bodies.models import OUTBOX, Body

PROBLEM = "application/problem+json"


def new_code(stem: str = "test-force") -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def body_doc(code: str, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "code": code, "name": f"Test {code}", "kind": "police_force", "region": "West Midlands",
        "contacts": [{"name": "Liz Liaison", "email": f"liaison@{code}.example.org", "role": "liaison"}],
    }
    doc.update(extra)
    return doc


async def create(svc: BodiesService, code: str, **extra: Any) -> dict[str, Any]:
    response = await svc.client.post("/bodies", json=body_doc(code, **extra), headers=svc.as_(ADMIN))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_create_read_update_deactivate(bodies: BodiesService) -> None:
    code = new_code()
    created = await create(bodies, code, webhook_url="https://hooks.example.org/rectrack",
                           webhook_secret="s3cret-s3cret-s3cret")
    assert created["id"] == code and created["code"] == code and created["version"] == 1
    assert created["status"] == "active" and created["webhook_secret_set"] is True
    assert "webhook_secret" not in created

    got = await bodies.client.get(f"/bodies/{code}", headers=bodies.as_(VIEWER))
    assert got.status_code == 200 and got.headers["etag"] == '"1"'
    assert got.json()["contacts"][0]["role"] == "liaison"
    assert "webhook_secret" not in got.json()

    patched = await bodies.client.patch(f"/bodies/{code}", json={"name": "Renamed Police", "webhook_secret": None},
                                        headers={**bodies.as_(ADMIN), "If-Match": '"1"'})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Renamed Police" and patched.json()["version"] == 2
    assert patched.json()["webhook_secret_set"] is False and patched.headers["etag"] == '"2"'

    # The version may also travel in the body; an update that changes nothing keeps the version.
    same = await bodies.client.patch(f"/bodies/{code}", json={"name": "Renamed Police", "version": 2},
                                     headers=bodies.as_(ADMIN))
    assert same.status_code == 200 and same.json()["version"] == 2

    stale = await bodies.client.patch(f"/bodies/{code}", json={"region": "Wales"},
                                      headers={**bodies.as_(ADMIN), "If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
    assert stale.json()["current_version"] == 2

    gone = await bodies.client.post(f"/bodies/{code}/deactivate", json={"status": "merged", "reason": "merged"},
                                    headers={**bodies.as_(ADMIN), "If-Match": "2"})
    assert gone.status_code == 200, gone.text
    assert gone.json()["status"] == "merged" and gone.json()["status_reason"] == "merged"
    assert gone.json()["version"] == 3
    again = await bodies.client.post(f"/bodies/{code}/deactivate", json={"status": "abolished", "reason": "x"},
                                     headers=bodies.as_(ADMIN))
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM


async def test_list_filters_and_pagination(bodies: BodiesService) -> None:
    stem = f"pager-{uuid.uuid4().hex[:6]}"
    for i in range(5):
        await create(bodies, f"{stem}-force-{i}", region="Wales")
    for i in range(3):
        await create(bodies, f"{stem}-fire-{i}", kind="fire_and_rescue_service", region="North West")
    await bodies.client.post(f"/bodies/{stem}-force-4/deactivate", json={"status": "abolished", "reason": "gone"},
                             headers=bodies.as_(ADMIN))

    async def page(**params: Any) -> dict[str, Any]:
        response = await bodies.client.get("/bodies", params={"q": stem, **params}, headers=bodies.as_(VIEWER))
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    everything = await page(limit=100)
    assert everything["total"] == 8 and len(everything["items"]) == 8
    forces = await page(kind="police_force")
    assert forces["total"] == 5 and {b["kind"] for b in forces["items"]} == {"police_force"}
    assert (await page(region="north west"))["total"] == 3
    assert (await page(status="abolished"))["total"] == 1
    assert (await page(kind="police_force", status="active"))["total"] == 4
    first, second = await page(limit=3, offset=0), await page(limit=3, offset=3)
    assert first["limit"] == 3 and first["offset"] == 0 and first["total"] == 8
    assert len(first["items"]) == 3 and len(second["items"]) == 3
    assert not {b["id"] for b in first["items"]} & {b["id"] for b in second["items"]}
    assert (await page(offset=8))["items"] == []
    # LIKE wildcards in q are taken literally.
    assert (await page(q="%"))["total"] == 0


async def test_body_principal_sees_only_its_own_body(bodies: BodiesService) -> None:
    mine, theirs = new_code("mine"), new_code("theirs")
    await create(bodies, mine)
    await create(bodies, theirs)
    me = bodies.as_(body_principal(mine))

    listed = await bodies.client.get("/bodies", params={"limit": 500}, headers=me)
    assert [b["id"] for b in listed.json()["items"]] == [mine] and listed.json()["total"] == 1
    assert (await bodies.client.get(f"/bodies/{mine}", headers=me)).status_code == 200
    other = await bodies.client.get(f"/bodies/{theirs}", headers=me)
    assert other.status_code == 404 and other.headers["content-type"] == PROBLEM
    # Writing: another body's id is 404 (existence never leaks), its own is 403.
    assert (await bodies.client.patch(f"/bodies/{theirs}", json={"name": "x", "version": 1},
                                      headers=me)).status_code == 404
    assert (await bodies.client.patch(f"/bodies/{mine}", json={"name": "x", "version": 1},
                                      headers=me)).status_code == 403
    assert (await bodies.client.post("/bodies", json=body_doc(new_code()), headers=me)).status_code == 403


async def test_only_admins_write(bodies: BodiesService) -> None:
    code = new_code()
    for principal in (VIEWER, INSPECTOR):
        refused = await bodies.client.post("/bodies", json=body_doc(code), headers=bodies.as_(principal))
        assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    await create(bodies, code)
    refused = await bodies.client.post(f"/bodies/{code}/deactivate", json={"status": "merged", "reason": "r"},
                                       headers=bodies.as_(INSPECTOR))
    assert refused.status_code == 403


async def test_requests_without_the_signed_principal_are_refused(bodies: BodiesService) -> None:
    for method, path in (("GET", "/bodies"), ("GET", "/bodies/x"), ("POST", "/bodies"),
                         ("POST", "/internal/api-keys/verify")):
        response = await bodies.client.request(method, path, json={})
        assert response.status_code == 401, (method, path)
        assert response.headers["content-type"] == PROBLEM
    forged = await bodies.client.get("/bodies", headers={"X-Rectrack-Principal": "not.a.token"})
    assert forged.status_code == 401


async def test_two_concurrent_updates_never_both_win(bodies: BodiesService) -> None:
    code = new_code()
    await create(bodies, code)
    responses = await asyncio.gather(*[
        bodies.client.patch(f"/bodies/{code}", json={"name": f"Writer {i}"},
                            headers={**bodies.as_(ADMIN), "If-Match": '"1"'})
        for i in range(4)
    ])
    assert sorted(r.status_code for r in responses) == [200, 412, 412, 412]
    final = await bodies.client.get(f"/bodies/{code}", headers=bodies.as_(ADMIN))
    assert final.json()["version"] == 2


async def test_demo_load_is_idempotent(bodies: BodiesService) -> None:
    db, outbox = bodies.runtime.db, bodies.runtime.outbox
    async with db.transaction() as session:
        first = await load_demo(session, outbox=outbox)
    async with db.read() as session:
        events_after_first = (await session.execute(select(func.count()).select_from(OUTBOX))).scalar_one()
    async with db.transaction() as session:
        second = await load_demo(session, outbox=outbox)
    async with db.read() as session:
        events_after_second = (await session.execute(select(func.count()).select_from(OUTBOX))).scalar_one()
        forces = (await session.execute(select(func.count()).select_from(Body)
                                        .where(Body.kind == "police_force"))).scalar_one()
        wmp = await session.get(Body, "west-midlands-police")
    assert first.created == 93 and second.created == 0 and second.present == 93
    assert events_after_second == events_after_first
    assert forces == 43
    assert wmp is not None and wmp.region == "West Midlands"
    assert {c["role"] for c in wmp.contacts} == {"liaison", "chief_officer", "local_policing_body"}
    assert {"email": "liaison@west-midlands-police.example.org"}.items() <= wmp.contacts[0].items()
    response = await bodies.client.get("/bodies", params={"kind": "fire_and_rescue_service", "limit": 100},
                                       headers=bodies.as_(VIEWER))
    assert response.json()["total"] == 44
