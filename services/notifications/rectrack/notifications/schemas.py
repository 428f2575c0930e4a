"""API models of the notifications service."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

Channel = Literal["email", "webhook", "inbox"]
DeliveryStatus = Literal["pending", "sending", "delivered", "failed"]


class NotificationOut(BaseModel):
    """One notice in an in-app inbox."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    event_id: str
    event_type: str
    body_id: str | None
    recommendation_id: str | None
    subject: str
    text: str
    data: dict[str, Any]
    created_at: datetime
    read: bool
    read_at: datetime | None
    version: int


class NotificationPage(BaseModel):
    """A page of an inbox, newest first."""

    items: list[NotificationOut]
    total: int
    limit: int
    offset: int
    unread: int


class ReadAll(BaseModel):
    """How many notices were marked read."""

    marked: int


class DeliveryOut(BaseModel):
    """One line of the delivery log."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    event_id: str
    event_type: str
    kind: str
    channel: Channel
    recipient: str
    recipient_name: str | None
    audiences: list[str]
    body_id: str | None
    recommendation_id: str | None
    subject: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    version: int


class DeliveryPage(BaseModel):
    """A page of the delivery log, newest first."""

    items: list[DeliveryOut]
    total: int
    limit: int
    offset: int
