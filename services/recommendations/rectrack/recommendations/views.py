"""The public JSON shape of a body's recommendation."""

from __future__ import annotations

from datetime import date
from typing import Any

from rectrack.common.auth import Principal
from rectrack.recommendations.access import allowed_for
from rectrack.recommendations.lifecycle import OPEN_STATES, State
from rectrack.recommendations.models import Body, Recommendation, Report


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def is_overdue(rec: Recommendation, today: date) -> bool:
    """Open and past its due date."""
    return rec.due_date is not None and rec.due_date < today and State(rec.state) in OPEN_STATES


def recommendation_view(rec: Recommendation, *, principal: Principal, today: date, body: Body | None = None,
                        report: Report | None = None, detail: bool = True) -> dict[str, Any]:
    """A recommendation as the caller sees it: state, version, due date, escalation, allowed actions."""
    view: dict[str, Any] = {
        "id": rec.id,
        "group_id": rec.group_id,
        "report_id": rec.report_id,
        "body_id": rec.body_id,
        "body_name": body.name if body else None,
        "kind": rec.kind,
        "reference": rec.reference,
        "title": rec.title,
        "themes": list(rec.themes or []),
        "priority": rec.priority,
        "owner": rec.owner,
        "state": rec.state,
        "version": rec.version,
        "due_date": _iso(rec.due_date),
        "overdue": is_overdue(rec, today),
        "escalation_level": rec.escalation_level,
        "allowed_actions": allowed_for(rec, principal),
        "issued_at": _iso(rec.issued_at),
        "completed_at": _iso(rec.completed_at),
        "updated_at": _iso(rec.updated_at),
    }
    if body is not None:
        view["body"] = {"id": body.id, "name": body.name, "kind": body.kind, "region": body.region,
                        "status": body.status}
    if report is not None:
        view["report"] = {"id": report.id, "title": report.title, "kind": report.kind, "level": report.level,
                          "published_on": _iso(report.published_on), "url": report.url}
    if detail:
        view.update({
            "text": rec.text,
            "benefits": rec.benefits,
            "risks": rec.risks,
            "closure_criteria": rec.closure_criteria,
            "assessment": rec.assessment,
            "superseded_by": rec.superseded_by,
            "last_returned_at": _iso(rec.last_returned_at),
            "progress_since_return": rec.progress_since_return,
            "created_by": rec.created_by,
            "created_at": _iso(rec.created_at),
        })
    return view
