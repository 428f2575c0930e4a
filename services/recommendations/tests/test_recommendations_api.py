"""The recommendation lifecycle through the service API: the main walk, refusals, versions, races, extensions."""

from __future__ import annotations

import asyncio

from recommendations_testkit import ADMIN, FORCE_A, FORCE_B, INSPECTOR, PDF, VIEWER, Service


async def test_main_walk_three_bodies(service: Service) -> None:
    report = await service.report()
    items = await service.recommend(report["id"], ["force-a", "force-b", "force-c"], issue=False)
    assert [i["body_id"] for i in items] == ["force-a", "force-b", "force-c"]
    assert {i["state"] for i in items} == {"draft"} and len({i["id"] for i in items}) == 3
    group_id = items[0]["group_id"]
    assert {i["group_id"] for i in items} == {group_id}
    rec_id = items[0]["id"]

    # A draft is the inspectorate's: the body cannot see it yet.
    assert (await service.get(f"/recommendations/{rec_id}", FORCE_A)).status_code == 404
    for item in items:
        issued = await service.act(item["id"], INSPECTOR, "issue")
        assert issued.status_code == 200, issued.text
        assert issued.json()["state"] == "issued"

    detail = (await service.get(f"/recommendations/{rec_id}", FORCE_A)).json()
    assert detail["allowed_actions"] == ["start"]
    assert detail["report"]["title"] == "PEEL 2025" and detail["body"]["name"] == "Force A Police"
    assert detail["escalation_level"] == "none" and detail["due_date"] == "2030-06-30"
    assert detail["themes"] == ["domestic-abuse", "vulnerability"]

    assert (await service.act(rec_id, FORCE_A, "start", reason="Action plan: audit by May")).status_code == 200
    # Submitting with no progress at all is refused, naming what may be done instead.
    early = await service.act(rec_id, FORCE_A, "submit")
    assert early.status_code == 409 and early.json()["reason_code"] == "no_progress_since_return"

    upload = await service.post(f"/recommendations/{rec_id}/progress", FORCE_A,
                                data={"narrative": "Audit done", "rag": "amber"},
                                files={"files": ("audit.pdf", PDF, "application/pdf")})
    assert upload.status_code == 201, upload.text
    evidence = upload.json()["evidence"]
    assert len(evidence) == 1 and evidence[0]["media_type"] == "application/pdf"
    assert evidence[0]["download_url"] == f"/api/v1/recommendations/{rec_id}/evidence/{evidence[0]['id']}"
    assert (await service.act(rec_id, FORCE_A, "submit")).json()["state"] == "awaiting_review"

    returned = await service.act(rec_id, INSPECTOR, "return", reason="Evidence does not cover all areas")
    assert returned.json()["state"] == "in_progress"
    again = await service.act(rec_id, FORCE_A, "submit")
    assert again.status_code == 409 and again.json()["allowed_actions"] == []
    second = await service.post(f"/recommendations/{rec_id}/progress", FORCE_A,
                                json={"narrative": "All areas covered now", "rag": "green"})
    assert second.status_code == 201, second.text
    assert (await service.act(rec_id, FORCE_A, "submit")).json()["state"] == "awaiting_review"
    approved = await service.act(rec_id, INSPECTOR, "approve", assessment="Fully implemented")
    assert approved.json()["state"] == "complete" and approved.json()["allowed_actions"] == ["reopen"]

    history = (await service.get(f"/recommendations/{rec_id}/history", FORCE_A)).json()["items"]
    assert [(h["action"], h["from_state"], h["to_state"]) for h in history] == [
        ("create", None, "draft"), ("issue", "draft", "issued"), ("start", "issued", "in_progress"),
        ("progress", None, None), ("submit", "in_progress", "awaiting_review"),
        ("return", "awaiting_review", "in_progress"), ("progress", None, None),
        ("submit", "in_progress", "awaiting_review"), ("approve", "awaiting_review", "complete")]
    assert history[5]["reason"] == "Evidence does not cover all areas"
    assert history[5]["actor"] == {"kind": "staff", "subject": "ida", "name": "Ida Inspector"}
    assert [h["seq"] for h in history] == sorted(h["seq"] for h in history)

    progress = (await service.get(f"/recommendations/{rec_id}/progress", FORCE_A)).json()["items"]
    assert [len(p["evidence"]) for p in progress] == [1, 0]
    download = await service.get(evidence[0]["download_url"].removeprefix("/api/v1"), FORCE_A)
    assert download.status_code == 200 and download.content == PDF
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith('attachment; filename="audit.pdf"')

    group = (await service.get(f"/recommendations/groups/{group_id}", INSPECTOR)).json()
    assert group["total"] == 3 and group["by_state"]["complete"] == 1 and group["by_state"]["issued"] == 2


async def test_refused_action_names_allowed_actions(service: Service) -> None:
    report = await service.report()
    (rec,) = await service.recommend(report["id"], ["force-a"])
    refused = await service.act(rec["id"], INSPECTOR, "approve", assessment="x")
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"] == "urn:rectrack:problem:transition-refused"
    assert problem["allowed_actions"] == ["supersede", "withdraw"] and problem["state"] == "issued"
    assert refused.headers["content-type"].startswith("application/problem+json")
    # Role guards: a body cannot approve, a viewer cannot act at all, staff cannot start for the body.
    assert (await service.act(rec["id"], FORCE_A, "withdraw", reason="no")).status_code == 403
    assert (await service.act(rec["id"], VIEWER, "withdraw", reason="no")).status_code == 403
    assert (await service.act(rec["id"], INSPECTOR, "start")).status_code == 403
    # Inputs the table needs.
    missing = await service.act(rec["id"], ADMIN, "withdraw")
    assert missing.status_code == 422 and missing.json()["reason_code"] == "missing_reason"
    bad = await service.act(rec["id"], ADMIN, "supersede", superseded_by="nope")
    assert bad.status_code == 422
    assert (await service.act(rec["id"], ADMIN, "dance")).status_code == 422


async def test_stale_if_match_gets_412(service: Service) -> None:
    report = await service.report()
    (rec,) = await service.recommend(report["id"], ["force-a"])
    got = await service.get(f"/recommendations/{rec['id']}", FORCE_A)
    assert got.headers["etag"] == f'"{rec["version"]}"'
    started = await service.act(rec["id"], FORCE_A, "start", headers={"If-Match": got.headers["etag"]})
    assert started.status_code == 200 and started.json()["version"] == rec["version"] + 1
    stale = await service.act(rec["id"], INSPECTOR, "withdraw", reason="r", headers={"If-Match": got.headers["etag"]})
    assert stale.status_code == 412 and stale.json()["current_version"] == rec["version"] + 1
    assert (await service.act(rec["id"], INSPECTOR, "withdraw", reason="r", version=rec["version"])).status_code == 412
    current = str(rec["version"] + 1)  # bare digits are accepted too
    fresh = await service.act(rec["id"], INSPECTOR, "withdraw", reason="r", headers={"If-Match": current})
    assert fresh.status_code == 200 and fresh.json()["state"] == "withdrawn"


async def test_concurrent_actions_never_both_succeed(service: Service) -> None:
    report = await service.report()
    recs = await service.recommend(report["id"], ["force-a", "force-b"])
    a, b = recs
    races = [
        (service.act(a["id"], INSPECTOR, "withdraw", reason="dup", headers={"If-Match": f'"{a["version"]}"'}),
         service.act(a["id"], FORCE_A, "start", headers={"If-Match": f'"{a["version"]}"'})),
        (service.act(b["id"], INSPECTOR, "withdraw", reason="dup", headers={"If-Match": f'"{b["version"]}"'}),
         service.act(b["id"], ADMIN, "withdraw", reason="dup", headers={"If-Match": f'"{b["version"]}"'})),
    ]
    for one, other in races:
        first, second = await asyncio.gather(one, other)
        statuses = sorted([first.status_code, second.status_code])
        assert statuses == [200, 412], (first.text, second.text)
    # Without If-Match the loser sees the new state and is refused by the table.
    (rec,) = await service.recommend(report["id"], ["force-c"], reference="R2")
    results = await asyncio.gather(*[service.act(rec["id"], INSPECTOR, "withdraw", reason=f"r{i}") for i in range(2)])
    assert sorted(r.status_code for r in results)[0] == 200
    assert sorted(r.status_code for r in results)[1] in (409, 412)
    history = (await service.get(f"/recommendations/{rec['id']}/history", INSPECTOR)).json()["items"]
    assert [h["action"] for h in history].count("withdraw") == 1


async def test_extension_requests(service: Service) -> None:
    report = await service.report()
    (rec,) = await service.recommend(report["id"], ["force-a"], due_date="2030-01-31")
    path = f"/recommendations/{rec['id']}/extension-requests"
    early = await service.post(path, FORCE_A, json={"proposed_due_date": "2030-01-30", "reason": "late"})
    assert early.status_code == 422
    assert (await service.post(path, FORCE_A, json={"proposed_due_date": "2030-03-01"})).status_code == 422
    asked = await service.post(path, FORCE_A, json={"proposed_due_date": "2030-03-31", "reason": "New IT system late"})
    assert asked.status_code == 201, asked.text
    twice = await service.post(path, FORCE_A, json={"proposed_due_date": "2030-04-30", "reason": "again"})
    assert twice.status_code == 409
    assert (await service.post(path, INSPECTOR, json={"proposed_due_date": "2030-04-30", "reason": "x"})
            ).status_code == 403
    decision = f"{path}/{asked.json()['id']}/decision"
    assert (await service.post(decision, FORCE_A, json={"granted": True, "reason": "self"})).status_code == 403
    granted = await service.post(decision, INSPECTOR, json={"granted": True, "reason": "Supplier failure evidenced"})
    assert granted.status_code == 200 and granted.json()["status"] == "granted"
    assert (await service.post(decision, INSPECTOR, json={"granted": False, "reason": "x"})).status_code == 409
    detail = (await service.get(f"/recommendations/{rec['id']}", FORCE_A)).json()
    assert detail["due_date"] == "2030-03-31"
    refused = await service.post(path, FORCE_A, json={"proposed_due_date": "2030-05-31", "reason": "More time"})
    assert (await service.post(f"{path}/{refused.json()['id']}/decision", ADMIN,
                               json={"granted": False, "reason": "No evidence"})).json()["status"] == "refused"
    listed = (await service.get(path, FORCE_A)).json()
    assert [r["status"] for r in listed["items"]] == ["granted", "refused"]
    history = (await service.get(f"/recommendations/{rec['id']}/history", FORCE_A)).json()["items"]
    actions = [h["action"] for h in history]
    assert actions[-5:] == ["extension_requested", "extension_granted", "due_date_changed", "extension_requested",
                            "extension_refused"]
    change = history[-3]
    assert change["reason"] == "Supplier failure evidenced"
    assert change["details"]["previous_due_date"] == "2030-01-31" and change["details"]["due_date"] == "2030-03-31"


async def test_another_body_gets_404_everywhere(service: Service) -> None:
    report = await service.report()
    a, b = await service.recommend(report["id"], ["force-a", "force-b"])
    await service.act(a["id"], FORCE_A, "start")
    posted = await service.post(f"/recommendations/{a['id']}/progress", FORCE_A, data={"narrative": "n"},
                                files={"files": ("a.pdf", PDF, "application/pdf")})
    evidence_url = posted.json()["evidence"][0]["download_url"].removeprefix("/api/v1")
    ask = await service.post(f"/recommendations/{a['id']}/extension-requests", FORCE_A,
                             json={"proposed_due_date": "2031-01-01", "reason": "r"})
    base = f"/recommendations/{a['id']}"
    for path in (base, f"{base}/progress", f"{base}/history", f"{base}/extension-requests", evidence_url):
        response = await service.get(path, FORCE_B)
        assert response.status_code == 404, path
        assert response.json()["type"] == "urn:rectrack:problem:not-found"
    for path, body in ((f"{base}/transitions", {"action": "submit"}), (f"{base}/progress", {"narrative": "x"}),
                       (f"{base}/extension-requests", {"proposed_due_date": "2032-01-01", "reason": "r"}),
                       (f"{base}/extension-requests/{ask.json()['id']}/decision", {"granted": True, "reason": "r"})):
        assert (await service.post(path, FORCE_B, json=body)).status_code == 404, path
    assert (await service.get(f"/recommendations/groups/{a['group_id']}", FORCE_B)).json()["total"] == 1
    listed = (await service.get("/recommendations", FORCE_B, params={"limit": 500})).json()
    assert [i["id"] for i in listed["items"]] == [b["id"]] and listed["total"] == 1
    forced = (await service.get("/recommendations", FORCE_B, params={"body_id": "force-a"})).json()
    assert forced["items"] == [] and forced["total"] == 0
    summary = (await service.get("/recommendations/summary", FORCE_B)).json()
    assert summary["total"] == 1 and [e["body_id"] for e in summary["by_body"]] == ["force-b"]
    export = await service.get("/recommendations/export.csv", FORCE_B)
    assert a["id"] not in export.text and b["id"] in export.text
    # Without the gateway's signed principal the service answers nothing.
    assert (await service.client.get(base)).status_code == 401
