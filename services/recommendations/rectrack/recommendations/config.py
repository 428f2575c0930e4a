"""Settings of the recommendations service (env RECTRACK_RECOMMENDATIONS_*)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from rectrack.common.settings import PlatformSettings, ServiceSettings

SERVICE_NAME = "recommendations"
MiB = 1024 * 1024


class RecommendationsSettings(ServiceSettings):
    """Where the service listens, its database, and the limits on what callers may send."""

    model_config = SettingsConfigDict(env_prefix="RECTRACK_RECOMMENDATIONS_", extra="ignore")
    service_name: ClassVar[str] = SERVICE_NAME

    port: int = 8002
    evidence_dir: Path | None = None
    evidence_max_bytes: int = Field(default=25 * MiB, ge=1)
    evidence_max_files: int = Field(default=10, ge=1)
    narrative_max_chars: int = Field(default=20_000, ge=1)
    import_max_bytes: int = Field(default=10 * MiB, ge=1)
    import_max_rows: int = Field(default=5_000, ge=1)

    # Escalation scheduler (ladder.py, escalation.py, scheduler.py): the ladder's days, the pass interval, the batch.
    escalation_due_soon_days: int = Field(default=14, ge=0)
    escalation_escalated_days: int = Field(default=30, ge=1)
    escalation_engage_days: int = Field(default=90, ge=2)
    escalation_interval_seconds: float = Field(default=60, gt=0)
    escalation_batch_size: int = Field(default=1000, ge=1)

    def resolved_evidence_dir(self, platform: PlatformSettings) -> Path:
        """The configured evidence folder, or `<data_dir>/evidence`."""
        return self.evidence_dir or platform.data_dir / "evidence"
