"""The one event envelope every rectrack event travels in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rectrack.common.db import new_id, utcnow


class Envelope(BaseModel):
    """An event: what happened (type, version), when, where, to what, and why (correlation, causation)."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=utcnow)
    source: str
    subject: str
    correlation_id: str | None = None
    causation_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """Serialised form on the wire."""
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        """Parse the wire form; raises pydantic.ValidationError on garbage."""
        return cls.model_validate_json(raw)
