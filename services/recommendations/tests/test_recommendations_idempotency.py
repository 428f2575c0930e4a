"""Idempotency-Key on the recommendations service's writes: a retried POST has one effect and one answer."""

from __future__ import annotations

from recommendations_testkit import FORCE_A, FORCE_B, INSPECTOR, Service


async def test_retried_create_makes_one_recommendation_per_body(service: Service) -> None:
    report = await service.report()
    body = {"report_id": report["id"], "kind": "recommendation", "reference": "R9", "title": "Vetting",
            "text": "Record vetting decisions", "themes": ["vetting"], "priority": "high", "benefits": "Trust",
            "risks": "Misconduct", "closure_criteria": "Audit", "due_date": "2030-01-31", "owner": "ida",
            "recipient_body_ids": ["force-a", "force-b"], "issue": True}
    headers = {"Idempotency-Key": "create-r9"}
    first = await service.post("/recommendations", INSPECTOR, json=body, headers=headers)
    retry = await service.post("/recommendations", INSPECTOR, json=body, headers=headers)
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json() and retry.headers["Idempotent-Replayed"] == "true"
    listed = (await service.get("/recommendations", INSPECTOR, params={"report_id": report["id"]})).json()
    assert listed["total"] == 2

    changed = await service.post("/recommendations", INSPECTOR, json={**body, "title": "Other"}, headers=headers)
    assert changed.status_code == 422 and changed.json()["type"].endswith("idempotency-key-reused")


async def test_retried_transition_and_progress_take_effect_once(service: Service) -> None:
    report = await service.report()
    rec = (await service.recommend(report["id"], ["force-a"]))[0]
    start = await service.act(rec["id"], FORCE_A, "start", headers={"Idempotency-Key": "start-1"})
    replay = await service.act(rec["id"], FORCE_A, "start", headers={"Idempotency-Key": "start-1"})
    assert start.status_code == replay.status_code == 200 and replay.json()["version"] == start.json()["version"]

    path = f"/recommendations/{rec['id']}/progress"
    for _ in range(2):
        posted = await service.post(path, FORCE_A, json={"narrative": "Audit done"},
                                    headers={"Idempotency-Key": "progress-1"})
        assert posted.status_code == 201
    assert (await service.get(path, FORCE_A)).json()["total"] == 1
    history = (await service.get(f"/recommendations/{rec['id']}/history", FORCE_A)).json()["items"]
    assert [h["action"] for h in history].count("start") == 1


async def test_keys_are_scoped_to_the_principal(service: Service) -> None:
    report = await service.report()
    a, b = await service.recommend(report["id"], ["force-a", "force-b"])
    for who, rec in ((FORCE_A, a), (FORCE_B, b)):
        response = await service.act(rec["id"], who, "start", headers={"Idempotency-Key": "same-key"})
        assert response.status_code == 200 and response.json()["id"] == rec["id"]
