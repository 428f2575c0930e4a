"""API models of the bodies service: strict input (bounded strings, closed enums) and the public shapes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from rectrack.common.contracts import BodyKind, BodyStatus, ContactRole

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
SLUG_RE = re.compile(SLUG_PATTERN)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

Slug = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=SLUG_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
WebhookSecret = Annotated[str, StringConstraints(min_length=16, max_length=200)]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("webhook_url must be an absolute http or https URL")
    return value


def _email(value: str) -> str:
    if not EMAIL_RE.match(value):
        raise ValueError("not an e-mail address")
    return value


WebhookUrl = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), AfterValidator(_http_url)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=320), AfterValidator(_email)]


class Strict(BaseModel):
    """Unknown fields are refused, so a typo is a 422 and not a silent no-op."""

    model_config = ConfigDict(extra="forbid")


class Contact(Strict):
    """A person at a body."""

    name: Name
    email: Email
    role: ContactRole


Contacts = Annotated[list[Contact], Field(max_length=50)]


class BodyCreate(Strict):
    """POST /bodies."""

    code: Slug
    name: Name
    kind: BodyKind
    region: Region | None = None
    contacts: Contacts = []
    webhook_url: WebhookUrl | None = None
    webhook_secret: WebhookSecret | None = None


class BodyUpdate(Strict):
    """PATCH /bodies/{id}: only the fields given change; `null` clears an optional field."""

    name: Name | None = None
    kind: BodyKind | None = None
    region: Region | None = None
    contacts: Contacts | None = None
    webhook_url: WebhookUrl | None = None
    webhook_secret: WebhookSecret | None = None
    version: int | None = Field(default=None, ge=1, description="expected version (or send If-Match)")


class Deactivate(Strict):
    """POST /bodies/{id}/deactivate."""

    status: Literal["merged", "abolished"]
    reason: Reason
    version: int | None = Field(default=None, ge=1, description="expected version (or send If-Match)")


class BodyOut(BaseModel):
    """A body as the API shows it: the webhook secret is never returned, only whether one is set."""

    id: str
    code: str
    name: str
    kind: BodyKind
    region: str | None
    status: BodyStatus
    status_reason: str | None = None
    contacts: list[Contact]
    webhook_url: str | None
    webhook_secret_set: bool
    version: int
    created_at: datetime
    updated_at: datetime


class BodyPage(BaseModel):
    """A page of bodies."""

    items: list[BodyOut]
    total: int
    limit: int
    offset: int


class ApiKeyCreate(Strict):
    """POST /bodies/{id}/api-keys."""

    name: Name = "api key"


class ApiKeyOut(BaseModel):
    """An API key's metadata; the secret is never shown again after creation."""

    id: str
    body_id: str
    name: str
    prefix: str
    created_at: datetime
    created_by: str
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None = None


class ApiKeyCreated(ApiKeyOut):
    """The answer to creating a key: the only time `key` is ever shown."""

    key: str


class ApiKeyPage(BaseModel):
    """A body's API keys."""

    items: list[ApiKeyOut]
    total: int
    limit: int
    offset: int


class VerifyKey(Strict):
    """POST /internal/api-keys/verify."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=300)]


class VerifiedKey(BaseModel):
    """Whose key it is."""

    body_id: str
    key_id: str
    name: str
