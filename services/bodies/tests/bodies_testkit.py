"""Helpers of the bodies service tests: principals and the app under test."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from rectrack.common.app import ServiceRuntime
from rectrack.common.auth import PRINCIPAL_HEADER, InternalSigner, Principal

ADMIN = Principal(kind="staff", subject="ada", name="Ada Admin", role="admin")
INSPECTOR = Principal(kind="staff", subject="ian", name="Ian Inspector", role="inspector")
VIEWER = Principal(kind="staff", subject="vic", name="Vic Viewer", role="viewer")
SERVICE = Principal(kind="service", subject="gateway")


@dataclass
class BodiesService:
    """The app under test, its client and how to sign principals for it."""

    client: httpx.AsyncClient
    runtime: ServiceRuntime
    url: str
    signer: InternalSigner
    nats_url: str

    def as_(self, principal: Principal) -> dict[str, str]:
        """Headers that make a request come from this principal through the gateway."""
        return {PRINCIPAL_HEADER: self.signer.sign(principal)}


def body_principal(body_id: str, subject: str | None = None) -> Principal:
    """A user (or, with subject api-key:..., a system) of one body."""
    return Principal(kind="body", subject=subject or f"{body_id}-user", body_id=body_id)
