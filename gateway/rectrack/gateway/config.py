"""Settings of the gateway (env prefix RECTRACK_GATEWAY_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    """Where the gateway listens, where the services are, and its limits."""

    model_config = SettingsConfigDict(env_prefix="RECTRACK_GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    bodies_url: str = "http://127.0.0.1:8001"
    recommendations_url: str = "http://127.0.0.1:8002"
    notifications_url: str = "http://127.0.0.1:8003"
    downstream_timeout: float = Field(default=5.0, gt=0)
    # Evidence uploads are 25 MB by default; the envelope of a multipart request needs a little more.
    max_request_bytes: int = Field(default=26 * 1024 * 1024, gt=0)
    api_key_cache_seconds: float = Field(default=30.0, ge=0)
    api_key_negative_cache_seconds: float = Field(default=5.0, ge=0)

    def service_urls(self) -> dict[str, str]:
        """Base URL of every downstream service, by name."""
        return {"bodies": self.bodies_url, "recommendations": self.recommendations_url,
                "notifications": self.notifications_url}
