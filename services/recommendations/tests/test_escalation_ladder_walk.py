"""The whole ladder walked with a fixed clock against the real service: every level once, a scheduler down for
100 days, an extension granted while overdue, a close and a reopen."""

from __future__ import annotations

from datetime import date, timedelta

from escalation_testkit import escalated_events, level_of, pass_on, records, scheduler_history
from recommendations_testkit import FORCE_A, INSPECTOR, Service
from sqlalchemy import update

from rectrack.recommendations.models import Recommendation

DUE = date(2031, 3, 31)


def day(offset: int) -> date:
    return DUE + timedelta(days=offset)


async def test_one_recommendation_climbs_every_rung_once(service: Service) -> None:
    db = service.app.state.runtime.db
    report = await service.report()
    rec = (await service.recommend(report["id"], ["force-a"], due_date=DUE.isoformat()))[0]

    walk = [(-20, None), (-14, "due_soon"), (-1, None), (1, "overdue"), (29, None), (30, "escalated"),
            (31, None), (90, "engage"), (400, None)]
    previous = "none"
    for offset, reached in walk:
        result = await pass_on(db, day(offset))
        again = await pass_on(db, day(offset))
        assert again.changed == 0, f"a second pass on day {offset} changed something"
        if reached is None:
            assert result.changed == 0, offset
            continue
        [change] = result.changes
        assert (change.previous_level, change.level, change.skipped_levels, change.announced) == (
            previous, reached, (), True)
        previous = reached

    events = await escalated_events(db, rec["id"])
    assert [(e["data"]["previous_level"], e["data"]["level"]) for e in events] == [
        ("none", "due_soon"), ("due_soon", "overdue"), ("overdue", "escalated"), ("escalated", "engage")]
    last = events[-1]
    assert last["type"] == "recommendation.escalated" and last["source"] == "recommendations"
    assert last["data"]["due_date"] == DUE.isoformat() and last["data"]["skipped_levels"] == []
    assert last["data"]["as_of"].startswith(day(90).isoformat())
    snap = last["data"]["recommendation"]
    assert (snap["id"], snap["body_id"], snap["body_name"], snap["escalation_level"]) == (
        rec["id"], "force-a", "Force A Police", "engage")
    assert len(await records(db, rec["id"])) == 4

    # The change is visible through the service: level, a new version, and history written by the scheduler.
    detail = (await service.get(f"/recommendations/{rec['id']}", INSPECTOR)).json()
    assert detail["escalation_level"] == "engage" and detail["version"] == rec["version"] + 4
    entries = await scheduler_history(db, rec["id"])
    assert [e.action for e in entries] == ["escalated"] * 4
    assert entries[-1].actor_kind == "system" and entries[-1].details["to_level"] == "engage"
    assert entries[-1].reason == "escalated → engage: due 2031-03-31, 90 days past due"
    listed = (await service.get("/recommendations", INSPECTOR, params={"escalation_level": "engage"})).json()
    assert [item["id"] for item in listed["items"]] == [rec["id"]]


async def test_scheduler_down_for_100_days_sends_one_event_naming_the_skipped_levels(service: Service) -> None:
    db = service.app.state.runtime.db
    report = await service.report()
    rec = (await service.recommend(report["id"], ["force-b"], due_date=DUE.isoformat()))[0]

    result = await pass_on(db, day(100))
    [change] = result.changes
    assert (change.previous_level, change.level, change.skipped_levels) == (
        "none", "engage", ("due_soon", "overdue", "escalated"))
    [event] = await escalated_events(db, rec["id"])
    assert event["data"]["skipped_levels"] == ["due_soon", "overdue", "escalated"]
    assert event["data"]["previous_level"] == "none" and event["data"]["level"] == "engage"
    assert [level for _, _, level in await records(db, rec["id"])] == ["due_soon", "engage", "escalated", "overdue"]
    assert (await pass_on(db, day(101))).changed == 0


async def test_extension_granted_while_overdue_relevels_against_the_new_due_date(service: Service) -> None:
    db = service.app.state.runtime.db
    report = await service.report()
    rec = (await service.recommend(report["id"], ["force-a"], due_date=DUE.isoformat()))[0]
    await pass_on(db, day(5))
    assert (await level_of(db, rec["id"]))[0] == "overdue"

    new_due = day(60)
    asked = await service.post(f"/recommendations/{rec['id']}/extension-requests", FORCE_A,
                               json={"proposed_due_date": new_due.isoformat(), "reason": "Supplier delay"})
    assert asked.status_code == 201, asked.text
    granted = await service.post(f"/recommendations/{rec['id']}/extension-requests/{asked.json()['id']}/decision",
                                 INSPECTOR, json={"granted": True, "reason": "Reasonable"})
    assert granted.status_code in (200, 201), granted.text

    # The grant starts the ladder again; on the same day the new date is 55 days away: nothing to announce.
    assert (await pass_on(db, day(5))).changed == 0
    assert (await level_of(db, rec["id"]))[0] == "none"
    [change] = (await pass_on(db, new_due - timedelta(days=14))).changes
    assert (change.previous_level, change.level, change.due_date, change.announced) == (
        "none", "due_soon", new_due, True)
    [change] = (await pass_on(db, new_due + timedelta(days=1))).changes
    assert (change.previous_level, change.level, change.announced) == ("due_soon", "overdue", True)

    events = await escalated_events(db, rec["id"])
    assert [(e["data"]["due_date"], e["data"]["level"]) for e in events] == [
        (DUE.isoformat(), "overdue"), (new_due.isoformat(), "due_soon"), (new_due.isoformat(), "overdue")]
    assert events[0]["data"]["skipped_levels"] == ["due_soon"]
    assert {(d, level) for _, d, level in await records(db, rec["id"])} == {
        (DUE, "due_soon"), (DUE, "overdue"), (new_due, "due_soon"), (new_due, "overdue")}


async def test_closing_ends_escalation_and_reopening_resumes_without_repeating_a_level(service: Service) -> None:
    db = service.app.state.runtime.db
    report = await service.report()
    rec = (await service.recommend(report["id"], ["force-a"], due_date=DUE.isoformat()))[0]
    await pass_on(db, day(2))
    assert (await level_of(db, rec["id"]))[0] == "overdue"

    assert (await service.act(rec["id"], FORCE_A, "start")).status_code == 200
    progress = await service.post(f"/recommendations/{rec['id']}/progress", FORCE_A,
                                  json={"narrative": "Done", "rag": "green"})
    assert progress.status_code == 201, progress.text
    assert (await service.act(rec["id"], FORCE_A, "submit")).status_code == 200
    approved = await service.act(rec["id"], INSPECTOR, "approve", assessment="Evidence is convincing")
    assert approved.status_code == 200, approved.text
    assert (await level_of(db, rec["id"]))[0] == "none"  # closing ends the ladder

    # Closed: never selected, however late.
    assert (await pass_on(db, day(5))).changed == 0
    assert (await pass_on(db, day(200))).changed == 0

    reopened = await service.act(rec["id"], INSPECTOR, "reopen", reason="Re-inspection found regression")
    assert reopened.status_code == 200, reopened.text
    # Back in progress: the level already reached for this due date comes back without a second event ...
    [change] = (await pass_on(db, day(5))).changes
    assert (change.previous_level, change.level, change.announced) == ("none", "overdue", False)
    assert (await pass_on(db, day(5))).changed == 0
    # ... and the ladder resumes: `escalated` was never reached for this due date, so it is announced.
    [change] = (await pass_on(db, day(30))).changes
    assert (change.previous_level, change.level, change.announced) == ("overdue", "escalated", True)

    events = await escalated_events(db, rec["id"])
    assert [(e["data"]["previous_level"], e["data"]["level"]) for e in events] == [
        ("none", "overdue"), ("overdue", "escalated")]
    entries = await scheduler_history(db, rec["id"])
    assert [e.action for e in entries] == ["escalated", "escalation_restored", "escalated"]


async def test_a_due_date_moved_later_without_a_reset_lowers_the_level_silently(service: Service) -> None:
    db = service.app.state.runtime.db
    report = await service.report()
    rec = (await service.recommend(report["id"], ["force-a"], due_date=DUE.isoformat()))[0]
    await pass_on(db, day(35))
    assert (await level_of(db, rec["id"]))[0] == "escalated"

    # A due-date change that leaves the level as it was (any route other than the extension grant, which resets).
    later = day(45)
    async with db.transaction() as session:
        await session.execute(update(Recommendation).where(Recommendation.id == rec["id"]).values(due_date=later))
    [change] = (await pass_on(db, day(35))).changes
    assert (change.previous_level, change.level, change.announced) == ("escalated", "due_soon", False)
    assert [e.action for e in await scheduler_history(db, rec["id"])] == ["escalated", "escalation_lowered"]
    assert len(await escalated_events(db, rec["id"])) == 1
    # Overdue against the new date is a level newly reached for that date: announced, from the lowered level.
    [change] = (await pass_on(db, later + timedelta(days=1))).changes
    assert (change.previous_level, change.level, change.announced) == ("due_soon", "overdue", True)
    events = await escalated_events(db, rec["id"])
    assert [(e["data"]["due_date"], e["data"]["previous_level"], e["data"]["level"], e["data"]["skipped_levels"])
            for e in events] == [(DUE.isoformat(), "none", "escalated", ["due_soon", "overdue"]),
                                 (later.isoformat(), "due_soon", "overdue", [])]
