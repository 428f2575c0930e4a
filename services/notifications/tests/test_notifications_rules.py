"""Rules and channels as configuration: the rule table from the environment, SMTP or the local mbox file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from notifications_testkit import contact, snapshot

from rectrack.common.settings import PlatformSettings
from rectrack.notifications.channels import MailboxFileChannel, SmtpEmailChannel
from rectrack.notifications.config import NotificationsSettings
from rectrack.notifications.main import email_channel
from rectrack.notifications.models import KnownBody
from rectrack.notifications.recipients import resolve
from rectrack.notifications.rules import DEFAULT_RULES, audiences_for


def known_body() -> KnownBody:
    return KnownBody(id="essex-police", name="Essex Police", status="active", version=1, contacts=[
        contact("Lee", "lee@essex.example.org", "liaison").model_dump(),
        contact("Chris", "chris@essex.example.org", "chief_officer").model_dump(),
        contact("Chris", "Chris@Essex.example.org", "local_policing_body").model_dump(),
    ], webhook_url="https://hooks.essex.example.org/rectrack")


def test_rules_come_from_the_environment_over_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECTRACK_NOTIFICATIONS_RULES", '{"issued": ["liaison", "owner"]}')
    monkeypatch.setenv("RECTRACK_NOTIFICATIONS_LEADERSHIP_EMAILS", '["chief.inspector@hmicfrs.example.org"]')
    monkeypatch.setenv("RECTRACK_NOTIFICATIONS_STAFF_EMAIL_DOMAIN", "hmicfrs.example.org")
    settings = NotificationsSettings()
    table = settings.rule_table()
    assert table["issued"] == ["liaison", "owner"]
    assert table["escalation.engage"] == DEFAULT_RULES["escalation.engage"]
    found = resolve(settings, audiences_for(table, "issued"), known_body(), snapshot("essex-police", owner="ian"))
    assert [(t.channel, t.address) for t in found.targets] == [("email", "lee@essex.example.org"),
                                                               ("email", "ian@hmicfrs.example.org")]
    assert set(found.inbox_keys) == {"body:essex-police", "staff:ian"}
    engage = resolve(settings, audiences_for(table, "escalation.engage"), known_body(), snapshot("essex-police"))
    assert [(t.channel, t.address, t.audiences) for t in engage.targets] == [
        ("email", "lee@essex.example.org", ["liaison"]),
        ("email", "chris@essex.example.org", ["chief_officer", "local_policing_body"]),
        ("email", "chief.inspector@hmicfrs.example.org", ["leadership"]),
        ("webhook", "https://hooks.essex.example.org/rectrack", ["webhook"])]
    assert engage.inbox_keys == {"body:essex-police": ["liaison", "chief_officer", "local_policing_body"],
                                 "staff:leadership": ["leadership"]}


def test_an_unknown_trigger_or_audience_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECTRACK_NOTIFICATIONS_RULES", '{"issued": ["everyone"]}')
    with pytest.raises(ValueError):
        NotificationsSettings()
    monkeypatch.setenv("RECTRACK_NOTIFICATIONS_RULES", '{"published": ["liaison"]}')
    with pytest.raises(ValueError):
        NotificationsSettings()


def test_mail_goes_to_smtp_when_a_host_is_set_else_to_the_mbox_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    platform = PlatformSettings(data_dir=tmp_path)
    with caplog.at_level(logging.INFO):
        local = email_channel(NotificationsSettings(), platform)
    assert isinstance(local, MailboxFileChannel) and local.path == tmp_path / "mail" / "outbox.mbox"
    assert str(tmp_path / "mail" / "outbox.mbox") in caplog.text
    monkeypatch.setenv("RECTRACK_NOTIFICATIONS_SMTP_HOST", "mail.example.org")
    settings = NotificationsSettings()
    assert (settings.smtp_host, settings.smtp_port) == ("mail.example.org", 25)
    monkeypatch.setenv("RECTRACK_NOTIFICATIONS_SMTP_PORT", "2525")
    smtp = email_channel(NotificationsSettings(), platform)
    assert isinstance(smtp, SmtpEmailChannel) and (smtp.host, smtp.port) == ("mail.example.org", 2525)
