"""End to end: the whole platform as separate processes (NATS, three services, the scheduler, the gateway),
driven over real HTTP through the gateway with real tokens, along the journeys people take."""

from __future__ import annotations

import hashlib
import time
from datetime import date, timedelta
from typing import Any

import pytest

pytestmark = pytest.mark.slow

# The scheduler's own passes use the real clock; keep them out of the way of `rectrack escalate --as-of`.
PLATFORM_ENV = {"RECTRACK_RECOMMENDATIONS_ESCALATION_INTERVAL_SECONDS": "3600"}


@pytest.fixture(scope="module")
def staff(platform, kit):
    return kit.api(platform, "inspector", subject=kit.INSPECTOR)


@pytest.fixture(scope="module")
def admin(platform, kit):
    return kit.api(platform, "admin", subject="e2e-admin")


@pytest.fixture(scope="module")
def body_a(platform, kit):
    return kit.api(platform, "body", body_id=kit.BODY_A)


@pytest.fixture(scope="module")
def body_b(platform, kit):
    return kit.api(platform, "body", body_id=kit.BODY_B)


@pytest.fixture(scope="module")
def body_c(platform, kit):
    return kit.api(platform, "body", body_id=kit.BODY_C)


@pytest.fixture(scope="module")
def report(staff, kit) -> dict[str, Any]:
    return kit.create_report(staff)


@pytest.fixture(scope="module")
def issued(staff, report, kit) -> list[dict[str, Any]]:
    """One recommendation issued to three bodies: A, B and C each get their own."""
    return kit.issue(staff, report["id"], [kit.BODY_A, kit.BODY_B, kit.BODY_C])


def _ok(response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, response.request.url, response.status_code,
                                            response.text)
    return response.json()


def test_every_process_is_healthy_and_ready(platform):
    import httpx

    for name in ("gateway", "bodies", "recommendations", "notifications"):
        for probe in ("/healthz", "/readyz"):
            assert httpx.get(platform.url_of(name) + probe, timeout=5).status_code == 200, (name, probe)
    assert platform.processes["scheduler"].poll() is None


def test_demo_bodies_are_listed_through_the_gateway(admin):
    page = _ok(admin.get("/bodies", params={"kind": "police_force", "limit": 100}))
    assert page["total"] == 43
    assert {"west-midlands-police", "kent-police", "west-yorkshire-police"} <= {b["id"] for b in page["items"]}
    assert all(b["kind"] == "police_force" for b in page["items"])


def test_issue_to_three_bodies_each_sees_only_its_own(issued, body_a, body_b, kit):
    assert [i["body_id"] for i in issued] == [kit.BODY_A, kit.BODY_B, kit.BODY_C]
    assert all(i["state"] == "issued" for i in issued)
    assert len({i["id"] for i in issued}) == 3
    rec_a = _ok(body_a.get(f"/recommendations/{issued[0]['id']}"))
    assert rec_a["state"] == "issued" and rec_a["body_id"] == kit.BODY_A
    assert "start" in rec_a["allowed_actions"]
    # Body B cannot see A's recommendation (404, not 403), nor its history or progress, nor find it in a list.
    for path in ("", "/history", "/progress"):
        assert body_b.get(f"/recommendations/{issued[0]['id']}{path}").status_code == 404, path
    listed = {r["id"] for r in _ok(body_b.get("/recommendations", params={"limit": 200}))["items"]}
    assert issued[1]["id"] in listed and issued[0]["id"] not in listed


def test_the_issued_notification_reaches_the_bodys_inbox(issued, body_a, body_b, kit):
    rec_id = issued[0]["id"]
    notice = kit.wait_until(lambda: [n for n in kit.inbox(body_a) if n.get("recommendation_id") == rec_id],
                            timeout=10, what="the issued notice in body A's inbox")
    assert len(notice) == 1
    assert notice[0]["event_type"] == "recommendation.issued"
    assert all(n.get("recommendation_id") != rec_id for n in kit.inbox(body_b))


def test_progress_with_evidence_return_and_approve(issued, staff, body_a, body_b, pdf_bytes, kit):
    rec_id = issued[0]["id"]
    rec = _ok(body_a.get(f"/recommendations/{rec_id}"))
    started = _ok(body_a.transition(rec_id, "start", version=rec["version"]))
    assert started["state"] == "in_progress" and started["version"] > rec["version"]
    # A stale If-Match is refused and changes nothing.
    assert body_a.transition(rec_id, "submit", version=rec["version"]).status_code == 412

    posted = _ok(body_a.post(f"/recommendations/{rec_id}/progress",
                             data={"narrative": "Audit of 100 calls attached.", "rag": "amber"},
                             files=[("files", ("audit report.pdf", pdf_bytes, "application/pdf"))]), 201)
    assert posted["narrative"] == "Audit of 100 calls attached."
    progress = _ok(body_a.get(f"/recommendations/{rec_id}/progress"))["items"]
    evidence = [e for p in progress for e in p.get("evidence", [])]
    assert len(evidence) == 1
    ev = evidence[0]
    assert ev["filename"] == "audit report.pdf"
    assert ev["media_type"] == "application/pdf"
    assert ev["size"] == len(pdf_bytes)
    assert ev["sha256"] == hashlib.sha256(pdf_bytes).hexdigest()
    download = body_a.get(ev["download_url"])
    assert download.status_code == 200 and download.content == pdf_bytes
    assert staff.get(ev["download_url"]).content == pdf_bytes
    # Body B cannot fetch A's file, even knowing its URL.
    assert body_b.get(ev["download_url"]).status_code == 404

    submitted = _ok(body_a.transition(rec_id, "submit"))
    assert submitted["state"] == "awaiting_review"
    # The owning inspector hears of the submission in their inbox.
    kit.wait_until(lambda: [n for n in kit.inbox(staff) if n.get("recommendation_id") == rec_id
                            and n["event_type"] == "recommendation.transitioned" and "submit" in n["kind"]],
                   timeout=10, what="the submit notice in the inspector's inbox")

    returned = _ok(staff.transition(rec_id, "return", reason="The audit covers one district only."))
    assert returned["state"] == "in_progress"
    # Submitting again needs progress since the return.
    refused = body_a.transition(rec_id, "submit")
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    _ok(body_a.post(f"/recommendations/{rec_id}/progress", {"narrative": "Force-wide audit done.", "rag": "green"}),
        201)
    _ok(body_a.transition(rec_id, "submit"))
    approved = _ok(staff.transition(rec_id, "approve", assessment="Evidence meets the closure criteria."))
    assert approved["state"] == "complete"

    # A refused move is 409 problem+json naming what is allowed.
    wrong = staff.transition(rec_id, "return", reason="too late")
    assert wrong.status_code == 409
    assert wrong.json()["allowed_actions"] == ["reopen"]

    history = _ok(body_a.get(f"/recommendations/{rec_id}/history"))["items"]
    lifecycle = {"issue", "start", "submit", "return", "approve"}
    moves = [(h["action"], h["from_state"], h["to_state"]) for h in history if h["action"] in lifecycle]
    assert moves == [("issue", "draft", "issued"), ("start", "issued", "in_progress"),
                     ("submit", "in_progress", "awaiting_review"), ("return", "awaiting_review", "in_progress"),
                     ("submit", "in_progress", "awaiting_review"), ("approve", "awaiting_review", "complete")]
    returns = [h for h in history if h["action"] == "return"]
    assert returns[0]["reason"] == "The audit covers one district only."
    assert returns[0]["actor"]


def test_extension_request_and_grant_move_the_due_date(issued, staff, body_c, body_a, kit):
    rec_id = issued[2]["id"]
    before = _ok(body_c.get(f"/recommendations/{rec_id}"))
    proposed = (date.fromisoformat(before["due_date"]) + timedelta(days=30)).isoformat()
    request = _ok(body_c.post(f"/recommendations/{rec_id}/extension-requests",
                              {"proposed_due_date": proposed, "reason": "The new IT system slipped a month."}), 201)
    assert body_a.get(f"/recommendations/{rec_id}/extension-requests").status_code == 404
    pending = _ok(staff.get(f"/recommendations/{rec_id}/extension-requests"))["items"]
    assert [r["id"] for r in pending] == [request["id"]]
    decided = _ok(staff.post(f"/recommendations/{rec_id}/extension-requests/{request['id']}/decision",
                             {"granted": True, "reason": "Reasonable: supplier delay evidenced."}))
    assert decided.get("status", "granted") == "granted"
    after = _ok(body_c.get(f"/recommendations/{rec_id}"))
    assert after["due_date"] == proposed
    history = _ok(staff.get(f"/recommendations/{rec_id}/history"))["items"]
    decisions = [h for h in history if "Reasonable: supplier delay evidenced." in str(h.get("reason"))]
    assert decisions, history
    assert any("extension" in h["action"] or "due_date" in h["action"] for h in decisions), decisions
    assert all(h["actor"] for h in decisions)


def _escalation_deliveries(admin, kit, body_id: str, rec_id: str) -> list[dict[str, Any]]:
    return [d for d in kit.deliveries(admin, body_id=body_id, channel="email")
            if d.get("recommendation_id") == rec_id and d.get("event_type") == "recommendation.escalated"]


def test_escalation_notifies_chief_officer_and_local_policing_body_once(platform, issued, staff, admin, body_b, kit):
    rec_id = issued[1]["id"]
    rec = _ok(body_b.get(f"/recommendations/{rec_id}"))
    assert rec["escalation_level"] == "none"
    as_of = (date.fromisoformat(rec["due_date"]) + timedelta(days=31)).isoformat()

    first = kit.rectrack(platform, "escalate", "--as-of", as_of)
    assert first.returncode == 0, first.stdout + first.stderr
    assert kit.BODY_B in first.stdout and "escalated" in first.stdout, first.stdout
    assert _ok(staff.get(f"/recommendations/{rec_id}"))["escalation_level"] == "escalated"

    domain = f"{kit.BODY_B}.example.org"
    wanted = {f"liaison@{domain}", f"chief.officer@{domain}", f"local.policing.body@{domain}"}

    def all_delivered() -> list[dict[str, Any]] | None:
        found = _escalation_deliveries(admin, kit, kit.BODY_B, rec_id)
        done = {d["recipient"] for d in found if d["status"] == "delivered"}
        return found if wanted <= done else None

    found = kit.wait_until(all_delivered, timeout=20, interval=0.5, what="three escalation e-mails delivered")
    assert sorted(d["recipient"] for d in found) == sorted(wanted)  # once each, nobody else
    mails = [m for m in kit.mailbox_messages(platform) if m["delivery"] in {d["id"] for d in found}]
    assert sorted(m["to"].split("<")[-1].rstrip(">") for m in mails) == sorted(wanted)

    # The second pass at the same date changes nothing and tells nobody again.
    second = kit.rectrack(platform, "escalate", "--as-of", as_of)
    assert second.returncode == 0, second.stdout + second.stderr
    assert kit.BODY_B not in second.stdout, second.stdout
    history = _ok(staff.get(f"/recommendations/{rec_id}/history"))["items"]
    assert len([h for h in history if "escalat" in h["action"]]) == 1
    # Give a (wrong) second event time to travel before counting again.
    time.sleep(2)
    again = _escalation_deliveries(admin, kit, kit.BODY_B, rec_id)
    assert sorted(d["id"] for d in again) == sorted(d["id"] for d in found)
    mails_after = [m for m in kit.mailbox_messages(platform) if m["delivery"] in {d["id"] for d in found}]
    assert len(mails_after) == 3
