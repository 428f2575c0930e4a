"""The in-app inbox over HTTP: each principal reads and marks only its own notices; the log is staff-only."""

from __future__ import annotations

from notifications_testkit import (
    ADMIN,
    INSPECTOR,
    NotificationsService,
    body,
    body_principal,
    contact,
    eventually,
    issued,
    snapshot,
)

from rectrack.common.auth import Principal
from rectrack.common.contracts import ExtensionRequestedV1, RecommendationTransitionedV1
from rectrack.common.events import subjects
from rectrack.notifications.models import Delivery, KnownBody, Notification

PROBLEM = "application/problem+json"


async def seed(service: NotificationsService) -> dict[str, list[str]]:
    """Two bodies; three issues to one, one to the other, and a submission to the owning inspector."""
    for body_id in ("avon-and-somerset-police", "dorset-police"):
        await service.bus.body(body(body_id, [contact("Liaison", f"liaison@{body_id}.example.org", "liaison")]))
    await eventually(lambda: _count(service, KnownBody, 2))  # so the notices arrive in the order published
    events: dict[str, list[str]] = {"avon-and-somerset-police": [], "dorset-police": [], "staff:ian": []}
    for n in range(3):
        rec = snapshot("avon-and-somerset-police", reference=f"PEEL-AS-R{n}")
        events["avon-and-somerset-police"].append(
            (await service.bus.recommendation(subjects.RECOMMENDATION_ISSUED, issued(rec))).id)
    rec = snapshot("dorset-police", reference="PEEL-DOR-R1")
    events["dorset-police"].append((await service.bus.recommendation(subjects.RECOMMENDATION_ISSUED, issued(rec))).id)
    actor = {"kind": "body", "subject": "dorset-police-user", "name": "Dee Dorset"}
    submitted = RecommendationTransitionedV1.model_validate({
        "recommendation": {**rec.model_dump(), "state": "awaiting_review"}, "action": "submit",
        "from_state": "in_progress", "to_state": "awaiting_review", "actor": actor})
    events["staff:ian"].append((await service.bus.recommendation(subjects.RECOMMENDATION_TRANSITIONED,
                                                                 submitted)).id)
    extension = ExtensionRequestedV1.model_validate({
        "recommendation": rec.model_dump(), "request_id": "x1", "proposed_due_date": "2031-09-01",
        "reason": "Training slipped", "actor": actor})
    events["staff:ian"].append((await service.bus.recommendation(subjects.RECOMMENDATION_EXTENSION_REQUESTED,
                                                                 extension)).id)
    await eventually(lambda: _count(service, Notification, 6))
    return events


async def _count(service: NotificationsService, model: object, n: int) -> bool:
    return await service.count(model) == n


async def test_each_principal_reads_only_its_own_inbox(service: NotificationsService) -> None:
    events = await seed(service)
    avon, dorset = body_principal("avon-and-somerset-police"), body_principal("dorset-police")

    page = await service.client.get("/notifications", headers=service.as_(avon))
    assert page.status_code == 200, page.text
    doc = page.json()
    assert doc["total"] == 3 and doc["unread"] == 3 and doc["limit"] == 50 and doc["offset"] == 0
    assert {n["event_id"] for n in doc["items"]} == set(events["avon-and-somerset-police"])
    assert [n["subject"].rsplit(" ", 1)[-1] for n in doc["items"]] == ["PEEL-AS-R2", "PEEL-AS-R1", "PEEL-AS-R0"]
    assert all(n["body_id"] == "avon-and-somerset-police" and not n["read"] for n in doc["items"])

    second = await service.client.get("/notifications", params={"limit": 2, "offset": 2}, headers=service.as_(avon))
    assert [n["id"] for n in second.json()["items"]] == [doc["items"][2]["id"]]

    staff = (await service.client.get("/notifications", headers=service.as_(INSPECTOR))).json()
    assert [n["kind"] for n in staff["items"]] == ["extension_requested", "recommendation_submitted"]
    assert "Dee Dorset" in staff["items"][1]["text"]
    assert (await service.client.get("/notifications", headers=service.as_(ADMIN))).json()["total"] == 0

    # Marking read: own notice yes, another body's notice is 404 as if it did not exist.
    first = doc["items"][0]["id"]
    read = await service.client.post(f"/notifications/{first}/read", headers=service.as_(avon))
    assert read.status_code == 200 and read.json()["read"] and read.headers["etag"] == '"2"'
    stranger = await service.client.post(f"/notifications/{first}/read", headers=service.as_(dorset))
    assert stranger.status_code == 404 and stranger.headers["content-type"] == PROBLEM
    assert (await service.client.post("/notifications/nope/read", headers=service.as_(avon))).status_code == 404
    assert (await service.client.post(f"/notifications/{first}/read", headers=service.as_(avon))).status_code == 200

    unread = (await service.client.get("/notifications", params={"unread": "true"}, headers=service.as_(avon))).json()
    assert unread["total"] == 2 and unread["unread"] == 2 and first not in {n["id"] for n in unread["items"]}
    done = (await service.client.get("/notifications", params={"unread": "false"}, headers=service.as_(avon))).json()
    assert [n["id"] for n in done["items"]] == [first]

    marked = await service.client.post("/notifications/read-all", headers=service.as_(avon))
    assert marked.status_code == 200 and marked.json() == {"marked": 2}
    assert (await service.client.get("/notifications", headers=service.as_(avon))).json()["unread"] == 0
    assert (await service.client.get("/notifications", headers=service.as_(dorset))).json()["unread"] == 1


async def test_the_delivery_log_is_for_staff(service: NotificationsService) -> None:
    await seed(service)
    await eventually(lambda: _all_settled(service))
    dorset = body_principal("dorset-police")
    refused = await service.client.get("/notifications/deliveries", headers=service.as_(dorset))
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    log = (await service.client.get("/notifications/deliveries", params={"body_id": "dorset-police"},
                                    headers=service.as_(INSPECTOR))).json()
    # issue: liaison e-mail + body inbox; submit and extension request: the owner's inbox each
    assert log["total"] == 4
    assert sorted((d["channel"], d["recipient"]) for d in log["items"]) == [
        ("email", "liaison@dorset-police.example.org"), ("inbox", "body:dorset-police"), ("inbox", "staff:ian"),
        ("inbox", "staff:ian")]
    emails = (await service.client.get("/notifications/deliveries", params={"channel": "email", "status": "delivered"},
                                       headers=service.as_(INSPECTOR))).json()
    assert emails["total"] == 4 and all(d["attempts"] == 1 for d in emails["items"])
    one = emails["items"][0]["id"]
    got = await service.client.get(f"/notifications/deliveries/{one}", headers=service.as_(INSPECTOR))
    assert got.status_code == 200 and got.json()["status"] == "delivered"
    assert (await service.client.get(f"/notifications/deliveries/{one}",
                                     headers=service.as_(dorset))).status_code == 403
    bad = await service.client.get("/notifications/deliveries", params={"status": "lost"},
                                   headers=service.as_(INSPECTOR))
    assert bad.status_code == 422 and bad.headers["content-type"] == PROBLEM
    unsigned = await service.client.get("/notifications")
    assert unsigned.status_code == 401


async def _all_settled(service: NotificationsService) -> bool:
    return await service.count(Delivery) == 10 and await service.count(Delivery, Delivery.status != "delivered") == 0


async def test_a_service_principal_has_no_inbox_of_a_body(service: NotificationsService) -> None:
    gateway = Principal(kind="service", subject="gateway")
    page = await service.client.get("/notifications", headers=service.as_(gateway))
    assert page.status_code == 200 and page.json()["items"] == []
