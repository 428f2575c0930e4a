"""Bad input to the bodies service is always a 4xx problem+json, never a 500."""

from __future__ import annotations

import uuid

import pytest
from bodies_testkit import ADMIN, BodiesService

PROBLEM = "application/problem+json"


def valid(**extra: object) -> dict[str, object]:
    code = f"input-{uuid.uuid4().hex[:8]}"
    return {"code": code, "name": "Input Police", "kind": "police_force", "region": "Wales", **extra}


BAD_CREATES = {
    "unknown kind": valid(kind="constabulary"),
    "bad slug": valid(code="West Midlands Police"),
    "slug with trailing dash": valid(code="west-"),
    "slug too long": valid(code="a" * 101),
    "name too long": valid(name="n" * 201),
    "empty name": valid(name="   "),
    "region too long": valid(region="r" * 101),
    "unknown field": valid(colour="blue"),
    "unknown contact role": valid(contacts=[{"name": "A", "email": "a@example.org", "role": "boss"}]),
    "bad contact email": valid(contacts=[{"name": "A", "email": "not-an-email", "role": "liaison"}]),
    "ftp webhook": valid(webhook_url="ftp://example.org/hook"),
    "javascript webhook": valid(webhook_url="javascript:alert(1)"),
    "short webhook secret": valid(webhook_url="https://example.org/h", webhook_secret="short"),
    "status is not writable": valid(status="abolished"),
    "wrong type": valid(name=["list"]),
    "not an object": ["a", "list"],
}


@pytest.mark.parametrize("case", sorted(BAD_CREATES))
async def test_bad_create_is_422(bodies: BodiesService, case: str) -> None:
    response = await bodies.client.post("/bodies", json=BAD_CREATES[case], headers=bodies.as_(ADMIN))
    assert response.status_code == 422, (case, response.text)
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "urn:rectrack:problem:validation"


async def test_malformed_json_is_400(bodies: BodiesService) -> None:
    response = await bodies.client.post("/bodies", content=b'{"code": "x",', headers={
        **bodies.as_(ADMIN), "Content-Type": "application/json"})
    assert response.status_code == 400 and response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "urn:rectrack:problem:malformed-json"


async def test_versions_and_conflicts(bodies: BodiesService) -> None:
    doc = valid()
    code = doc["code"]
    assert (await bodies.client.post("/bodies", json=doc, headers=bodies.as_(ADMIN))).status_code == 201
    duplicate = await bodies.client.post("/bodies", json=doc, headers=bodies.as_(ADMIN))
    assert duplicate.status_code == 409 and duplicate.headers["content-type"] == PROBLEM
    cases = [
        ({"name": "X"}, {}, 428),  # no version at all
        ({"name": "X"}, {"If-Match": '"7"'}, 412),  # stale
        ({"name": "X", "version": 7}, {}, 412),
        ({"name": "X"}, {"If-Match": "yesterday"}, 400),
        ({"name": None, "version": 1}, {}, 422),  # a required field cannot be cleared
        ({"kind": "army", "version": 1}, {}, 422),
        ({"code": "renamed", "version": 1}, {}, 422),  # the code is immutable
        ({"version": 0}, {}, 422),
    ]
    for payload, headers, status in cases:
        response = await bodies.client.patch(f"/bodies/{code}", json=payload, headers={**bodies.as_(ADMIN),
                                                                                       **headers})
        assert response.status_code == status, (payload, headers, response.text)
        assert response.headers["content-type"] == PROBLEM
    missing = await bodies.client.patch("/bodies/no-such-body", json={"name": "X", "version": 1},
                                        headers=bodies.as_(ADMIN))
    assert missing.status_code == 404
    bad_status = await bodies.client.post(f"/bodies/{code}/deactivate", json={"status": "active", "reason": "r"},
                                          headers=bodies.as_(ADMIN))
    assert bad_status.status_code == 422
    no_reason = await bodies.client.post(f"/bodies/{code}/deactivate", json={"status": "merged"},
                                         headers=bodies.as_(ADMIN))
    assert no_reason.status_code == 422


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"kind": "navy"},
                                    {"status": "asleep"}, {"q": "q" * 201}, {"limit": "ten"}])
async def test_bad_list_parameters_are_422(bodies: BodiesService, params: dict[str, object]) -> None:
    response = await bodies.client.get("/bodies", params=params, headers=bodies.as_(ADMIN))
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM


async def test_oversize_key_and_key_name(bodies: BodiesService) -> None:
    doc = valid()
    await bodies.client.post("/bodies", json=doc, headers=bodies.as_(ADMIN))
    long_name = await bodies.client.post(f"/bodies/{doc['code']}/api-keys", json={"name": "k" * 201},
                                         headers=bodies.as_(ADMIN))
    assert long_name.status_code == 422
    long_id = await bodies.client.delete(f"/bodies/{doc['code']}/api-keys/{'k' * 65}", headers=bodies.as_(ADMIN))
    assert long_id.status_code == 422
