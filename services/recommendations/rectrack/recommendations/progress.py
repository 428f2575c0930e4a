"""Progress updates and their evidence files."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from rectrack.common.auth import Principal
from rectrack.common.contracts import ProgressAddedV1
from rectrack.common.db import new_id
from rectrack.common.errors import Problem, not_found
from rectrack.common.events.outbox import Outbox
from rectrack.common.events.subjects import RECOMMENDATION_PROGRESS_ADDED
from rectrack.recommendations import history
from rectrack.recommendations.access import load_visible, require_acting_staff
from rectrack.recommendations.events import actor_v1, record, snapshot
from rectrack.recommendations.lifecycle import OPEN_STATES, State
from rectrack.recommendations.models import Body, EvidenceFile, ProgressUpdate, Recommendation
from rectrack.recommendations.uploads import UploadedFile

# A body reports progress on what it has started (and may add to it while awaiting review);
# staff may record progress on its behalf in any open state.
BODY_PROGRESS_STATES = frozenset({State.IN_PROGRESS, State.AWAITING_REVIEW})
STAFF_PROGRESS_STATES = OPEN_STATES


def check_may_post(rec: Recommendation, principal: Principal) -> None:
    """403 for viewers, 409 when the recommendation is not in a state that takes progress from this caller."""
    state = State(rec.state)
    if principal.kind == "body":
        allowed = BODY_PROGRESS_STATES
    else:
        require_acting_staff(principal)
        allowed = STAFF_PROGRESS_STATES
    if state not in allowed:
        hint = " (start it first)" if state is State.ISSUED else ""
        raise Problem(409, "progress-refused", "Progress not accepted in this state",
                      f"progress cannot be posted while the recommendation is {state.value}{hint}",
                      state=state.value, accepted_states=sorted(s.value for s in allowed))


def download_url(recommendation_id: str, evidence_id: str) -> str:
    """The public (gateway) path of an evidence file."""
    return f"/api/v1/recommendations/{recommendation_id}/evidence/{evidence_id}"


def evidence_view(ev: EvidenceFile) -> dict[str, Any]:
    """The public shape of an evidence file's metadata."""
    return {"id": ev.id, "filename": ev.filename, "media_type": ev.media_type, "size": ev.size, "sha256": ev.sha256,
            "download_url": download_url(ev.recommendation_id, ev.id)}


def progress_view(update_row: ProgressUpdate, evidence: list[EvidenceFile]) -> dict[str, Any]:
    """The public shape of a progress update."""
    return {
        "id": update_row.id, "recommendation_id": update_row.recommendation_id, "narrative": update_row.narrative,
        "rag": update_row.rag, "created_at": update_row.created_at.isoformat(),
        "author": {"kind": update_row.author_kind, "subject": update_row.author_subject,
                   "name": update_row.author_name},
        "evidence": [evidence_view(e) for e in evidence],
    }


async def add_progress(session: AsyncSession, *, outbox: Outbox, recommendation_id: str, narrative: str,
                       rag: str | None, files: list[UploadedFile], actor: Principal,
                       now: datetime) -> dict[str, Any]:
    """Record a progress update with its (already stored) evidence files."""
    rec = await load_visible(session, recommendation_id, actor)
    check_may_post(rec, actor)
    row = ProgressUpdate(id=new_id(), recommendation_id=rec.id, narrative=narrative, rag=rag,
                         author_kind=actor.kind, author_subject=actor.subject, author_name=actor.name,
                         created_at=now)
    session.add(row)
    await session.flush()
    evidence = [EvidenceFile(id=new_id(), progress_id=row.id, recommendation_id=rec.id, filename=f.filename,
                             storage_key=f.blob.key, media_type=f.blob.media_type, size=f.blob.size,
                             sha256=f.blob.sha256, created_at=now) for f in files]
    session.add_all(evidence)
    # An atomic increment: concurrent posts all count, and the version moves so stale writers see it.
    await session.execute(
        update(Recommendation).where(Recommendation.id == rec.id)
        .values(progress_since_return=Recommendation.progress_since_return + 1, version=Recommendation.version + 1,
                updated_at=now).execution_options(synchronize_session=False))
    await session.refresh(rec)
    await history.append(session, recommendation_id=rec.id, actor=actor, at=now, action="progress",
                         details={"progress_id": row.id, "rag": rag, "evidence_count": len(evidence)})
    body = await session.get(Body, rec.body_id)
    await record(session, outbox, RECOMMENDATION_PROGRESS_ADDED, rec, ProgressAddedV1(
        recommendation=snapshot(rec, body.name if body else None), progress_id=row.id,
        rag=rag, evidence_count=len(evidence), actor=actor_v1(actor)))  # type: ignore[arg-type]
    await session.flush()
    return progress_view(row, evidence)


async def list_progress(session: AsyncSession, *, recommendation_id: str, principal: Principal) -> list[dict[str, Any]]:
    """Every progress update of a recommendation, oldest first, each with its evidence."""
    rec = await load_visible(session, recommendation_id, principal)
    updates = list((await session.execute(
        select(ProgressUpdate).where(ProgressUpdate.recommendation_id == rec.id)
        .order_by(ProgressUpdate.created_at, ProgressUpdate.id))).scalars())
    files = (await session.execute(
        select(EvidenceFile).where(EvidenceFile.recommendation_id == rec.id).order_by(EvidenceFile.created_at))
             ).scalars()
    by_update: dict[str, list[EvidenceFile]] = {}
    for ev in files:
        by_update.setdefault(ev.progress_id, []).append(ev)
    return [progress_view(u, by_update.get(u.id, [])) for u in updates]


async def get_evidence(session: AsyncSession, *, recommendation_id: str, evidence_id: str,
                       principal: Principal) -> EvidenceFile:
    """One evidence file's metadata, if the caller may see its recommendation; 404 otherwise."""
    rec = await load_visible(session, recommendation_id, principal)
    ev = await session.get(EvidenceFile, evidence_id)
    if ev is None or ev.recommendation_id != rec.id:
        raise not_found("evidence file")
    return ev
