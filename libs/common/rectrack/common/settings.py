"""Settings shared by every rectrack process, read from the environment (prefix RECTRACK_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "rectrack-dev-only-jwt-secret-change-me-0123456789"
DEV_INTERNAL_SECRET = "rectrack-dev-only-internal-secret-change-me-0123"


class PlatformSettings(BaseSettings):
    """What all processes agree on: profile, data folder, NATS, secrets, logging."""

    model_config = SettingsConfigDict(env_prefix="RECTRACK_", extra="ignore")

    profile: Literal["dev", "test", "prod"] = "dev"
    data_dir: Path = Path("var")
    nats_url: str = "nats://127.0.0.1:4232"
    stream_replicas: int = Field(default=1, ge=1, le=5)
    jwt_secret: str = DEV_JWT_SECRET
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_jwks_url: str | None = None
    jwt_issuer: str = "rectrack"
    jwt_audience: str = "rectrack"
    internal_secret: str = DEV_INTERNAL_SECRET
    log_level: str = "INFO"
    log_json: bool = True
    consumer_max_deliver: int = Field(default=5, ge=1)
    consumer_ack_wait_seconds: float = Field(default=30.0, gt=0)
    relay_sweep_seconds: float = Field(default=5.0, gt=0)

    @model_validator(mode="after")
    def _refuse_dev_secrets_outside_dev(self) -> PlatformSettings:
        if self.profile == "prod":
            if self.jwt_algorithm == "HS256" and self.jwt_secret == DEV_JWT_SECRET:
                raise ValueError("RECTRACK_JWT_SECRET must be set outside the dev profile")
            if self.internal_secret == DEV_INTERNAL_SECRET:
                raise ValueError("RECTRACK_INTERNAL_SECRET must be set outside the dev profile")
        if self.jwt_algorithm == "HS256" and len(self.jwt_secret) < 32:
            raise ValueError("RECTRACK_JWT_SECRET must be at least 32 characters")
        if len(self.internal_secret) < 32:
            raise ValueError("RECTRACK_INTERNAL_SECRET must be at least 32 characters")
        return self


class ServiceSettings(BaseSettings):
    """Settings of one HTTP process; subclasses set env_prefix (e.g. RECTRACK_BODIES_)."""

    model_config = SettingsConfigDict(extra="ignore")
    service_name: ClassVar[str]  # names the embedded SQLite file under the data folder

    host: str = "127.0.0.1"
    port: int = 8001
    database_url: str | None = None

    def database(self, platform: PlatformSettings) -> str:
        """The configured URL, or the embedded SQLite file under the data folder."""
        if self.database_url:
            return self.database_url
        path = platform.data_dir / f"{self.service_name}.db"
        return f"sqlite+aiosqlite:///{path}"


@lru_cache
def platform_settings() -> PlatformSettings:
    """The process-wide platform settings (cached; tests clear the cache)."""
    return PlatformSettings()
