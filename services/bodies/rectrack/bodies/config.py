"""Settings of the bodies service (env prefix RECTRACK_BODIES_)."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from rectrack.common.settings import ServiceSettings

SERVICE_NAME = "bodies"


class BodiesSettings(ServiceSettings):
    """Host, port and database of the bodies service."""

    model_config = SettingsConfigDict(env_prefix="RECTRACK_BODIES_", extra="ignore")
    service_name: ClassVar[str] = SERVICE_NAME

    port: int = 8001
    # A key's last_used_at is written at most this often, so verifying is not a write per request.
    key_last_used_resolution_seconds: float = 60.0
