"""Idempotency-Key for POSTs that create or act, enforced in the owning service's own transaction.

The first request with a key claims it (a short transaction of its own, so a concurrent retry sees it in
flight and gets 409); the endpoint's write transaction then stores the response beside the change it made,
so the change and the remembered answer commit together. A retry with the same key and body replays that
answer; a different body gets 422. A claim whose request died mid-way is taken over after `stale_after`.
Keys belong to the principal that used them and expire after `ttl`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.auth import Principal
from rectrack.common.db import Database, UTCDateTime, insert_ignore, utcnow
from rectrack.common.errors import Problem

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def define_idempotency_table(metadata: MetaData) -> Table:
    """Add the idempotency_keys table to a service's metadata."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("principal", String(200), primary_key=True),
        Column("key", String(MAX_KEY_LENGTH), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("state", String(16), nullable=False),  # in_flight | done
        Column("status_code", Integer, nullable=True),
        Column("response", Text, nullable=True),
        Column("claimed_at", UTCDateTime(), nullable=False),
        Column("expires_at", UTCDateTime(), nullable=False, index=True),
    )


@dataclass
class IdempotentRequest:
    """One request's claim on its key; `replay` is set when an earlier answer must be given again."""

    table: Table | None
    principal: str = ""
    key: str | None = None
    replay: JSONResponse | None = None
    completed: bool = field(default=False)

    async def complete(self, session: AsyncSession, status_code: int, body: Any) -> None:
        """Remember the answer in the endpoint's own write transaction."""
        if self.table is None or self.key is None:
            return
        await session.execute(update(self.table).where(
            self.table.c.principal == self.principal, self.table.c.key == self.key,
        ).values(state="done", status_code=status_code, response=json.dumps(jsonable_encoder(body))))
        self.completed = True


class Idempotency:
    """Claims, replays and releases Idempotency-Keys for one service's database."""

    def __init__(self, db: Database, table: Table, *, ttl: timedelta = timedelta(hours=24),
                 stale_after: timedelta = timedelta(seconds=60)) -> None:
        self.db = db
        self.table = table
        self.ttl = ttl
        self.stale_after = stale_after

    async def fingerprint(self, request: Request) -> str:
        """What must match for a replay: method, path, query and the body (or its length for uploads)."""
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/"):
            # A multipart body is streamed, never buffered; its boundary differs per attempt, so its length stands in.
            payload = request.headers.get("content-length", "").encode()
        else:
            payload = await request.body()
        digest = hashlib.sha256()
        for part in (request.method.encode(), request.url.path.encode(), request.url.query.encode(), payload):
            digest.update(part + b"\0")
        return digest.hexdigest()

    async def claim(self, request: Request, principal: Principal) -> IdempotentRequest:
        """Claim the request's key, or say why not (replay, 409 in flight, 422 different body)."""
        key = request.headers.get(HEADER)
        if key is None:
            return IdempotentRequest(table=None)
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise Problem(400, "bad-idempotency-key", "Invalid Idempotency-Key",
                          f"the key must be 1 to {MAX_KEY_LENGTH} printable characters")
        owner = f"{principal.kind}:{principal.body_id or principal.subject}"
        fingerprint = await self.fingerprint(request)
        now = utcnow()
        t = self.table
        async with self.db.transaction() as session:
            await session.execute(delete(t).where(t.c.principal == owner, t.c.key == key, t.c.expires_at < now))
            claimed = await insert_ignore(session, t, {
                "principal": owner, "key": key, "fingerprint": fingerprint, "state": "in_flight",
                "claimed_at": now, "expires_at": now + self.ttl})
            if claimed:
                return IdempotentRequest(table=t, principal=owner, key=key)
            row = (await session.execute(select(t).where(t.c.principal == owner, t.c.key == key))).one()
            if row.fingerprint != fingerprint:
                raise Problem(422, "idempotency-key-reused", "Idempotency-Key reused",
                              "this key was used with a different request; use a new key")
            if row.state == "done":
                replay = JSONResponse(json.loads(row.response), status_code=row.status_code,
                                      headers={"Idempotent-Replayed": "true"})
                return IdempotentRequest(table=None, replay=replay)
            if row.claimed_at > now - self.stale_after:
                raise Problem(409, "idempotency-in-flight", "Request in progress",
                              "a request with this Idempotency-Key is still being processed; retry later",
                              headers={"Retry-After": "1"})
            # The first attempt died without answering: this retry takes the claim over.
            await session.execute(update(t).where(t.c.principal == owner, t.c.key == key).values(claimed_at=now))
            return IdempotentRequest(table=t, principal=owner, key=key)

    async def release(self, claim: IdempotentRequest) -> None:
        """Forget an unanswered claim (the request failed), so a retry can run."""
        if claim.table is None or claim.key is None or claim.completed:
            return
        t = self.table
        async with self.db.transaction() as session:
            await session.execute(delete(t).where(t.c.principal == claim.principal, t.c.key == claim.key,
                                                  t.c.state == "in_flight"))

    async def guard(self, request: Request, principal: Principal) -> AsyncIterator[IdempotentRequest]:
        """Body of a FastAPI yield-dependency: claim before the endpoint, release if it did not complete."""
        claim = await self.claim(request, principal)
        try:
            yield claim
        finally:
            await self.release(claim)
