"""The scheduler lease: one row per job name, held by one replica until it expires or is released.

The lease only saves work (one replica runs passes, the others wait); exactly-once never depends on it: the
unique escalation records do that even when two passes overlap (a lease that expired mid-pass, `rectrack escalate`
run by hand while the scheduler runs).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import case, update

from rectrack.common.db import Database, insert_ignore
from rectrack.recommendations.escalation_records import SchedulerLease

ESCALATION_LEASE = "escalation"


async def acquire(db: Database, *, holder: str, ttl_seconds: float, now: datetime,
                  name: str = ESCALATION_LEASE) -> bool:
    """Take or renew the lease for `ttl_seconds`; True when `holder` now holds it."""
    expires_at = now + timedelta(seconds=ttl_seconds)
    t = SchedulerLease.__table__
    async with db.transaction() as session:
        if await insert_ignore(session, t, {"name": name, "holder": holder, "expires_at": expires_at,
                                            "acquired_at": now}):
            return True
        # One atomic UPDATE: it matches only when the lease is free (expired) or already ours.
        taken = await session.execute(
            update(t).where(t.c.name == name, (t.c.expires_at < now) | (t.c.holder == holder))
            .values(holder=holder, expires_at=expires_at,
                    acquired_at=case((t.c.holder == holder, t.c.acquired_at), else_=now)))
        return bool(taken.rowcount == 1)  # type: ignore[attr-defined]


async def release(db: Database, *, holder: str, now: datetime, name: str = ESCALATION_LEASE) -> bool:
    """Give the lease up at once (if `holder` has it) so another replica need not wait for it to expire."""
    t = SchedulerLease.__table__
    async with db.transaction() as session:
        done = await session.execute(
            update(t).where(t.c.name == name, t.c.holder == holder).values(expires_at=now))
        return bool(done.rowcount == 1)  # type: ignore[attr-defined]


async def holder_of(db: Database, *, now: datetime, name: str = ESCALATION_LEASE) -> str | None:
    """Who holds the lease now, if anyone."""
    t = SchedulerLease.__table__
    async with db.read() as session:
        row = (await session.execute(t.select().where(t.c.name == name))).first()
    return row.holder if row is not None and row.expires_at > now else None
