"""API keys for a body's systems: `rtk_<key id>_<secret>`, shown once, stored as the sha256 of the secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.bodies.models import ApiKey, Body
from rectrack.bodies.schemas import ApiKeyCreated, ApiKeyOut
from rectrack.common.db import utcnow
from rectrack.common.errors import Problem, not_found

KEY_SCHEME = "rtk"
API_KEY_SUBJECT_PREFIX = "api-key:"
# Compared against when the key id is unknown, so a miss costs the same as a wrong secret.
_DUMMY_HASH = hashlib.sha256(b"rectrack-no-such-key").hexdigest()


def hash_secret(secret: str) -> str:
    """sha256 of a key's secret (the secret has 256 bits of entropy, so no slow hash is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(key: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_SCHEME or not parts[1].isalnum() or len(parts[1]) > 32 or not parts[2]:
        return None
    return parts[1], parts[2]


def key_out(key: ApiKey) -> ApiKeyOut:
    """The public shape of a key (never its secret or hash)."""
    return ApiKeyOut(id=key.id, body_id=key.body_id, name=key.name, prefix=key.prefix, created_at=key.created_at,
                     created_by=key.created_by, last_used_at=key.last_used_at, revoked_at=key.revoked_at,
                     revoked_by=key.revoked_by)


async def create_key(session: AsyncSession, *, body_id: str, name: str, created_by: str) -> ApiKeyCreated:
    """Issue a key for an active body; the answer is the only place its secret ever appears."""
    body = await session.get(Body, body_id)
    if body is None:
        raise not_found("body")
    if body.status != "active":
        raise Problem(409, "body-inactive", "Body is not active", f"the body is {body.status}; it gets no new keys")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(id=key_id, body_id=body_id, name=name, prefix=f"{KEY_SCHEME}_{key_id}_",
                 secret_sha256=hash_secret(secret), created_at=utcnow(), created_by=created_by)
    session.add(key)
    await session.flush()
    return ApiKeyCreated(**key_out(key).model_dump(), key=f"{KEY_SCHEME}_{key_id}_{secret}")


async def list_keys(session: AsyncSession, *, body_id: str, limit: int, offset: int) -> tuple[list[ApiKey], int]:
    """A body's keys, newest first, revoked ones included."""
    total = (await session.execute(select(func.count()).select_from(ApiKey).where(ApiKey.body_id == body_id)))
    rows = await session.execute(select(ApiKey).where(ApiKey.body_id == body_id)
                                 .order_by(ApiKey.created_at.desc(), ApiKey.id).limit(limit).offset(offset))
    return list(rows.scalars().all()), int(total.scalar_one())


async def revoke_key(session: AsyncSession, *, body_id: str, key_id: str, revoked_by: str) -> None:
    """Revoke a key of the body (revoking twice is harmless); 404 for another body's key."""
    key = await session.get(ApiKey, key_id)
    if key is None or key.body_id != body_id:
        raise not_found("api key")
    if key.revoked_at is None:
        await session.execute(update(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                              .values(revoked_at=utcnow(), revoked_by=revoked_by)
                              .execution_options(synchronize_session=False))


async def find_valid_key(session: AsyncSession, key: str) -> ApiKey | None:
    """The live key a presented key string matches (not revoked, body active), else None."""
    parts = split_key(key)
    row = None
    if parts is not None:
        row = (await session.execute(
            select(ApiKey, Body.status).join(Body, Body.id == ApiKey.body_id).where(ApiKey.id == parts[0])
        )).first()
    stored = row[0].secret_sha256 if row else _DUMMY_HASH
    presented = hash_secret(parts[1]) if parts else hash_secret(key)
    matches = hmac.compare_digest(stored, presented)
    if row is None or not matches or row[0].revoked_at is not None or row[1] != "active":
        return None
    return row[0]  # type: ignore[no-any-return]


async def mark_used(session: AsyncSession, *, key: ApiKey, resolution_seconds: float) -> None:
    """Record the key's use, at most once per resolution period (verification is mostly a read)."""
    now = utcnow()
    if key.last_used_at is not None and now - key.last_used_at < timedelta(seconds=resolution_seconds):
        return
    await session.execute(update(ApiKey).where(ApiKey.id == key.id).values(last_used_at=now)
                          .execution_options(synchronize_session=False))
