"""Settings of the gateway (env prefix RECTRACK_GATEWAY_)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator
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

    # Composed views and the rate limit (issue 6).
    # A composed view answers within this many seconds with whatever parts arrived (the rest named as missing).
    view_timeout_seconds: float = Field(default=2.0, gt=0)
    # Token bucket per principal (per client IP when unauthenticated), in each gateway replica separately.
    # None (env: "", "none", "off" or "0") disables it, e.g. for benchmarks.
    rate_limit_per_second: float | None = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    rate_limit_max_keys: int = Field(default=100_000, ge=1)

    @field_validator("rate_limit_per_second", mode="before")
    @classmethod
    def _rate_limit_off(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "off", "0")):
            return None
        return value

    def service_urls(self) -> dict[str, str]:
        """Base URL of every downstream service, by name."""
        return {"bodies": self.bodies_url, "recommendations": self.recommendations_url,
                "notifications": self.notifications_url}
