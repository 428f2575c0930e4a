"""Settings of the notifications service (env prefix RECTRACK_NOTIFICATIONS_)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from rectrack.common.settings import PlatformSettings, ServiceSettings
from rectrack.notifications.rules import DEFAULT_RULES, RuleTable, merge_rules

SERVICE_NAME = "notifications"


class NotificationsSettings(ServiceSettings):
    """Where the service listens, who hears what, how mail leaves, and how hard deliveries are retried."""

    model_config = SettingsConfigDict(env_prefix="RECTRACK_NOTIFICATIONS_", extra="ignore")
    service_name: ClassVar[str] = SERVICE_NAME

    port: int = 8003
    # Who hears what: {trigger: [audience, ...]} as JSON; entries given here replace the default's for
    # that trigger, the others keep their defaults (see rules.DEFAULT_RULES).
    rules: RuleTable = Field(default_factory=dict)
    leadership_emails: list[str] = ["leadership@inspectorate.example.org"]
    # Staff subjects whose inboxes get leadership notices; empty: the shared inbox staff:leadership.
    leadership_subjects: list[str] = []
    # Where a staff subject's e-mail goes: an explicit map, else subject@domain when a domain is set
    # (a subject that is itself an address is used as it is). Without either, staff get inbox notices only.
    staff_emails: dict[str, str] = {}
    staff_email_domain: str | None = None
    # The link printed in every notice.
    public_url: str = "http://127.0.0.1:8000"

    # E-mail: SMTP when a host is set, else an mbox file under the data folder.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_use_tls: bool = False
    smtp_start_tls: bool = False
    smtp_timeout: float = Field(default=10.0, gt=0)
    mail_from: str = "rectrack@inspectorate.example.org"
    mailbox_path: Path | None = None

    # Delivery worker.
    webhook_timeout: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=6, ge=1)
    retry_base_seconds: float = Field(default=30.0, ge=0)
    retry_max_seconds: float = Field(default=3600.0, ge=0)
    # How long a claimed delivery may stay `sending` before another worker assumes its sender died.
    delivery_lease_seconds: float = Field(default=120.0, gt=0)
    worker_sweep_seconds: float = Field(default=5.0, gt=0)
    worker_batch_size: int = Field(default=100, ge=1)
    worker_concurrency: int = Field(default=16, ge=1)
    run_worker: bool = True

    @field_validator("rules")
    @classmethod
    def _known_rules(cls, value: RuleTable) -> RuleTable:
        merge_rules(value)  # raises on an unknown trigger
        return value

    def rule_table(self) -> RuleTable:
        """The defaults with the configured entries applied."""
        return merge_rules(self.rules) if self.rules else dict(DEFAULT_RULES)

    def resolved_mailbox(self, platform: PlatformSettings) -> Path:
        """The mbox file local e-mail goes to."""
        return self.mailbox_path or platform.data_dir / "mail" / "outbox.mbox"
