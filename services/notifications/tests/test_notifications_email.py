"""Issued and escalated recommendations reach the right people by e-mail (a real SMTP server), inbox and log."""

from __future__ import annotations

from notifications_testkit import (
    CollectingSmtp,
    NotificationsService,
    body,
    contact,
    escalated,
    eventually,
    issued,
    snapshot,
)

from rectrack.common.events import subjects
from rectrack.notifications.models import Delivery, KnownBody, Notification

LIAISONS = ["pat.liaison@wmp.example.org", "sam.liaison@wmp.example.org"]
CHIEF = "chief.constable@wmp.example.org"
PCC = "pcc@westmidlands-pcc.example.org"


def west_midlands(**extra: object):  # type: ignore[no-untyped-def]
    return body("west-midlands-police", [
        contact("Pat Liaison", LIAISONS[0], "liaison"),
        contact("Sam Liaison", LIAISONS[1], "liaison"),
        contact("Craig Chief", CHIEF, "chief_officer"),
        contact("Paula PCC", PCC, "local_policing_body"),
    ], name="West Midlands Police", **extra)  # type: ignore[arg-type]


async def known(service: NotificationsService, body_id: str, version: int = 1) -> None:
    async def check() -> bool:
        rows = await service.rows(KnownBody, KnownBody.id == body_id)
        return bool(rows) and rows[0].version >= version
    await eventually(check)


async def test_an_issued_recommendation_is_mailed_to_the_liaison_contacts(service: NotificationsService,
                                                                           smtp: CollectingSmtp) -> None:
    await service.bus.body(west_midlands())
    await known(service, "west-midlands-police")
    rec = snapshot("west-midlands-police", reference="PEEL-2023-WMP-R3")
    event = await service.bus.recommendation(subjects.RECOMMENDATION_ISSUED, issued(rec))

    async def two_mails() -> bool:
        return len(smtp.envelopes) >= 2
    await eventually(two_mails)
    assert smtp.recipients() == sorted(LIAISONS)
    for rcpt, mail in smtp.messages():
        assert mail["Subject"] == "New recommendation for West Midlands Police: PEEL-2023-WMP-R3"
        assert mail["From"] == "rectrack@inspectorate.example.org"
        assert rcpt[0] in mail["To"]
        text = mail.get_body(("plain",)).get_content()
        assert "PEEL-2023-WMP-R3" in text and "7 March 2031" in text
        assert f"/api/v1/recommendations/{rec.id}" in text
        assert mail["X-Rectrack-Delivery"] and mail["X-Rectrack-Delivery"] in mail["Message-ID"]

    async def settled() -> list[Delivery]:
        rows = await service.rows(Delivery, Delivery.event_id == event.id)
        return rows if len(rows) == 3 and all(r.status == "delivered" for r in rows) else []
    rows = await eventually(settled)
    assert sorted((r.channel, r.recipient) for r in rows) == sorted(
        [("email", LIAISONS[0]), ("email", LIAISONS[1]), ("inbox", "body:west-midlands-police")])
    assert all(r.attempts == 1 and r.last_error is None for r in rows)
    notices = await service.rows(Notification, Notification.event_id == event.id)
    assert [n.inbox_key for n in notices] == ["body:west-midlands-police"]
    outcomes = await service.outbox_events(subjects.NOTIFICATION_DELIVERED)
    assert sorted(o["delivery_id"] for o in outcomes) == sorted(r.id for r in rows)

    # The same event again (a redelivery, or a producer's retry outside the dedupe window) adds nothing.
    await service.bus.js.publish(subjects.RECOMMENDATION_ISSUED, event.to_bytes())
    later = await service.bus.recommendation(subjects.RECOMMENDATION_ISSUED,
                                             issued(snapshot("west-midlands-police")))
    await eventually(lambda: service.count(Notification, Notification.event_id == later.id))
    assert await service.count(Delivery, Delivery.event_id == event.id) == 3
    assert await service.count(Notification, Notification.event_id == event.id) == 1


async def test_escalation_fans_out_by_level_and_a_person_hears_once(service: NotificationsService,
                                                                     smtp: CollectingSmtp) -> None:
    # The chief officer is also the body's liaison: one e-mail per event, however many roles.
    await service.bus.body(body("kent-police", [
        contact("Lee Liaison", "lee@kent.example.org", "liaison"),
        contact("Carol Chief", "carol@kent.example.org", "chief_officer"),
        contact("Carol Chief", "CAROL@kent.example.org", "liaison"),
        contact("Pip PCC", "pip@kent-pcc.example.org", "local_policing_body"),
        contact("Pip PCC", "pip@kent-pcc.example.org", "chief_officer"),
    ]))
    await known(service, "kent-police")
    rec = snapshot("kent-police", reference="PEEL-2024-KNT-R1")
    overdue = await service.bus.recommendation(subjects.RECOMMENDATION_ESCALATED, escalated(rec, "overdue", "none"))
    escalation = await service.bus.recommendation(subjects.RECOMMENDATION_ESCALATED,
                                                  escalated(rec, "escalated", "overdue"))
    engage = await service.bus.recommendation(subjects.RECOMMENDATION_ESCALATED,
                                              escalated(rec, "engage", "escalated"))

    async def settled(event_id: str, n: int) -> list[Delivery]:
        rows = await service.rows(Delivery, Delivery.event_id == event_id)
        return rows if len(rows) == n and all(r.status == "delivered" for r in rows) else []

    def emails(rows: list[Delivery]) -> list[str]:
        return sorted(r.recipient.lower() for r in rows if r.channel == "email")

    assert emails(await eventually(lambda: settled(overdue.id, 3))) == ["carol@kent.example.org",
                                                                       "lee@kent.example.org"]
    rows = await eventually(lambda: settled(escalation.id, 4))
    assert emails(rows) == ["carol@kent.example.org", "lee@kent.example.org", "pip@kent-pcc.example.org"]
    carol = next(r for r in rows if r.recipient.lower() == "carol@kent.example.org")
    assert sorted(carol.audiences) == ["chief_officer", "liaison"]
    rows = await eventually(lambda: settled(engage.id, 6))
    assert emails(rows) == ["carol@kent.example.org", "leadership@inspectorate.example.org",
                            "lee@kent.example.org", "pip@kent-pcc.example.org"]
    assert sorted(r.recipient for r in rows if r.channel == "inbox") == ["body:kent-police", "staff:leadership"]

    async def all_mail() -> bool:
        return len(smtp.envelopes) >= 2 + 3 + 4
    await eventually(all_mail)
    received = smtp.recipients()
    assert len(received) == 9
    assert [r.lower() for r in received].count("carol@kent.example.org") == 3
    assert received.count("pip@kent-pcc.example.org") == 2
    assert received.count("leadership@inspectorate.example.org") == 1
    subjects_seen = {mail["Subject"] for _, mail in smtp.messages()}
    assert "Leadership attention: PEEL-2024-KNT-R1 is 105 days overdue" in subjects_seen
    assert "Escalation: PEEL-2024-KNT-R1 is 105 days overdue" in subjects_seen


async def test_an_older_body_event_does_not_undo_a_newer_one(service: NotificationsService) -> None:
    await service.bus.body(west_midlands(version=3), subjects.BODY_UPDATED)
    await known(service, "west-midlands-police", 3)
    stale = body("west-midlands-police", [contact("Old", "old@wmp.example.org", "liaison")], version=2)
    await service.bus.body(stale, subjects.BODY_UPDATED)
    newer = body("west-midlands-police", [contact("New", "new@wmp.example.org", "liaison")], version=4)
    await service.bus.body(newer, subjects.BODY_UPDATED)
    await known(service, "west-midlands-police", 4)
    [row] = await service.rows(KnownBody, KnownBody.id == "west-midlands-police")
    assert [c["email"] for c in row.contacts] == ["new@wmp.example.org"]
