"""Notification templates: every kind renders, HTML is escaped, missing fields fail loudly."""

import datetime as dt
import json

import jinja2
import pytest

from rectrack.notifications.render import KINDS, REQUIRED_FIELDS, TEMPLATES_DIR, render, uk_date

BASE = {
    "reference": "PEEL-2023-WMP-R3",
    "title": "Improve the response to <domestic abuse> & stalking",
    "body_name": "West Midlands Police",
    "due_date": dt.date(2025, 3, 7),
    "state": "in_progress",
    "level": None,
    "previous_level": None,
    "reason": "The evidence does not show training has been delivered.",
    "recommendation_id": "3f1c9b7e-0000-4000-8000-000000000001",
    "link": "https://rectrack.example/recommendations/3f1c?body=wmp&tab=history",
    "actor_name": "Inspector Jane Smith",
}

EXTRA = {
    "extension_decided": {"decision": "approved"},
    "escalation": {"level": "overdue", "previous_level": "due_soon"},
}


def _context(kind: str, **overrides: object) -> dict:
    return {**BASE, **EXTRA.get(kind, {}), **overrides}


def test_every_kind_has_both_templates() -> None:
    for kind in KINDS:
        assert (TEMPLATES_DIR / f"{kind}.txt.j2").is_file()
        assert (TEMPLATES_DIR / f"{kind}.html.j2").is_file()


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_renders_subject_text_html_and_data(kind: str) -> None:
    message = render(kind, _context(kind))
    assert "PEEL-2023-WMP-R3" in message.subject
    assert "\n" not in message.subject
    assert "PEEL-2023-WMP-R3" in message.text
    assert BASE["link"] in message.text
    assert message.html is not None and message.html.startswith("<!DOCTYPE html>")
    assert "None" not in message.text
    assert message.data["kind"] == kind
    assert message.data["due_date"] == "2025-03-07"
    json.dumps(message.data)


def test_subjects_differ_between_kinds() -> None:
    subjects = {render(kind, _context(kind)).subject for kind in KINDS}
    assert len(subjects) == len(KINDS)


def test_html_is_escaped_and_text_is_not() -> None:
    message = render("recommendation_issued", _context("recommendation_issued"))
    assert "&lt;domestic abuse&gt; &amp; stalking" in message.html
    assert "<domestic abuse>" not in message.html
    assert 'href="https://rectrack.example/recommendations/3f1c?body=wmp&amp;tab=history"' in message.html
    assert "<domestic abuse> & stalking" in message.text


def test_dates_are_written_the_british_way() -> None:
    assert uk_date(dt.date(2025, 3, 7)) == "7 March 2025"
    assert uk_date("2025-12-25") == "25 December 2025"
    assert uk_date(dt.datetime(2025, 1, 2, 9, 30)) == "2 January 2025"
    message = render("recommendation_issued", _context("recommendation_issued"))
    assert "7 March 2025" in message.text


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_missing_required_fields_fail_loudly(kind: str) -> None:
    for field in REQUIRED_FIELDS[kind]:
        context = _context(kind)
        del context[field]
        with pytest.raises(ValueError, match=field):
            render(kind, context)


def test_templates_are_strict_about_undefined_names() -> None:
    from rectrack.notifications import render as render_module

    env = render_module._ENV
    assert env.undefined is jinja2.StrictUndefined
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ no_such_field }}").render({})


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown notification kind"):
        render("recommendation_lost", BASE)


def test_returned_gives_the_reason() -> None:
    message = render("recommendation_returned", _context("recommendation_returned"))
    assert "returned" in message.subject
    assert "Reason: The evidence does not show training has been delivered." in message.text


def test_submitted_asks_the_inspector_to_review() -> None:
    message = render("recommendation_submitted", _context("recommendation_submitted"))
    assert "West Midlands Police has submitted PEEL-2023-WMP-R3 for review" in message.text
    assert "approve closure or return it" in message.text


def test_extension_requested_shows_the_proposed_date_when_given() -> None:
    with_date = render("extension_requested", _context("extension_requested", proposed_date="2025-06-30"))
    assert "proposed new due date is 30 June 2025" in with_date.text
    without = render("extension_requested", _context("extension_requested"))
    assert "proposed new due date" not in without.text
    assert "Reason given:" in without.text


def test_extension_decision_wording() -> None:
    approved = render("extension_decided", _context("extension_decided", decision="approved"))
    assert "Extension approved" in approved.subject
    assert "The new due date is 7 March 2025" in approved.text
    refused = render("extension_decided", _context("extension_decided", decision="refused"))
    assert "Extension refused" in refused.subject
    assert "The due date remains 7 March 2025" in refused.text
    with pytest.raises(ValueError, match="decision"):
        render("extension_decided", _context("extension_decided", decision="maybe"))


def test_escalation_due_soon_is_a_reminder() -> None:
    message = render("escalation", _context("escalation", level="due_soon"))
    assert message.subject.startswith("Reminder:")
    assert "due by 7 March 2025" in message.text
    assert "chief officer" not in message.text


def test_escalation_overdue_warns_of_the_next_step() -> None:
    message = render("escalation", _context("escalation", level="overdue"))
    assert message.subject.startswith("Overdue:")
    assert "now overdue" in message.text
    assert "still open 30 days after the due date" in message.text


def test_escalation_escalated_tells_chief_officer_and_local_policing_body() -> None:
    message = render("escalation", _context("escalation", level="escalated"))
    assert "at least 30 days overdue" in message.subject
    assert "at least 30 days past its due date" in message.text
    assert "chief officer or local policing body for West Midlands Police" in message.text
    exact = render("escalation", _context("escalation", level="escalated", days_overdue=34))
    assert "34 days past its due date" in exact.text


def test_escalation_engage_is_for_inspectorate_leadership() -> None:
    message = render("escalation", _context("escalation", level="engage"))
    assert "at least 90 days" in message.text
    assert "Inspectorate leadership" in message.text
    assert "enhanced monitoring" in message.text


def test_escalation_thresholds_follow_configuration() -> None:
    message = render("escalation", _context("escalation", level="escalated", escalated_after_days=45))
    assert "at least 45 days" in message.text


def test_unknown_escalation_level_is_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        render("escalation", _context("escalation", level="panic"))
