"""Settings of the bodies service (env prefix RECTRACK_BODIES_)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from rectrack.common.settings import PlatformSettings, ServiceSettings

SERVICE_NAME = "bodies"


class BodiesSettings(ServiceSettings):
    """Host, port and database of the bodies service."""

    model_config = SettingsConfigDict(env_prefix="RECTRACK_BODIES_", extra="ignore")

    port: int = 8001
    # A key's last_used_at is written at most this often, so verifying is not a write per request.
    key_last_used_resolution_seconds: float = 60.0

    def database(self, platform: PlatformSettings) -> str:
        """The database URL this service uses."""
        return self.resolved_database_url(platform, SERVICE_NAME)
