"""Composed views: a body's dashboard and the staff overview, each one concurrent fan-out to the services.

Every part is fetched at the same time under one deadline (`view_timeout_seconds`). A part whose service is
down, too slow or failing is answered as `null` and named in `missing` with the service and the reason, and
the view is `partial`; the answer is still 200 and comes within the deadline. The body itself is the one
part that decides existence: when the bodies service says 404, the dashboard is 404.

Who may see what: a body's principal sees only its own body's dashboard (another body's is 404, as if it did
not exist); any staff role sees every dashboard and the overview; the overview is 403 for bodies.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from rectrack.common.errors import Problem
from rectrack.gateway.auth import Caller, require_body_visible, require_staff
from rectrack.gateway.clients.base import ServiceClient, get_service_client
from rectrack.gateway.openapi import READ_RESPONSES

router = APIRouter(prefix="/api/v1", responses=READ_RESPONSES)

BodyId = Annotated[str, Path(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=100, examples=["west-midlands-police"])]
Reason = Literal["unavailable", "timeout", "error"]
OVERDUE_LIMIT = 20
NOTIFICATIONS_LIMIT = 10
OVERVIEW_LIMIT = 10


class Missing(BaseModel):
    """A part of a composed view that is absent, and why."""

    part: str
    service: str
    reason: Reason
    status: int | None = Field(default=None, description="The service's HTTP status, when it answered.")


class Page(BaseModel):
    """A page of a downstream list, as the service answered it."""

    model_config = ConfigDict(extra="allow")

    items: list[dict[str, Any]]
    total: int


class Counts(BaseModel):
    """How many recommendations are in each state and at each escalation level."""

    model_config = ConfigDict(extra="allow")

    total: int | None = None
    by_state: dict[str, int]
    by_escalation_level: dict[str, int]
    overdue: int | None = None
    median_days_to_complete: float | None = None


class Dashboard(BaseModel):
    """One body's dashboard; a `null` part is named in `missing`."""

    body: dict[str, Any] | None
    counts: Counts | None
    overdue: Page | None = Field(description=f"Its overdue recommendations, the {OVERDUE_LIMIT} first.")
    notifications: Page | None = Field(description="Its recent notices: a body's own inbox, or for staff the "
                                                   "delivery log of this body.")
    partial: bool
    missing: list[Missing]


class Overview(BaseModel):
    """National and regional roll-ups and the work waiting for staff; a `null` part is named in `missing`."""

    national: Counts | None
    regional: list[dict[str, Any]] | None = Field(description="Counts by state per region, with overdue totals.")
    most_overdue: Page | None
    awaiting_review: Page | None
    partial: bool
    missing: list[Missing]


@dataclass
class Outcome:
    """What one part fetch gave: its value, or why there is none."""

    value: Any = None
    reason: Reason | None = None
    problem: Problem | None = None


async def _fetch(call: Callable[[], Awaitable[Any]], deadline: float) -> Outcome:
    try:
        async with asyncio.timeout_at(deadline):
            return Outcome(value=await call())
    except TimeoutError:
        return Outcome(reason="timeout")
    except Problem as problem:
        reason: Reason = "timeout" if problem.status == 504 else \
            "unavailable" if problem.status in (502, 503) else "error"
        return Outcome(reason=reason, problem=problem)
    except Exception:  # a broken answer must not break the whole view
        return Outcome(reason="error")


async def fan_out(request: Request, calls: dict[str, Callable[[], Awaitable[Any]]]) -> dict[str, Outcome]:
    """Run every call at once; each gets what is left of the view's deadline."""
    timeout: float = request.app.state.settings.view_timeout_seconds
    deadline = asyncio.get_running_loop().time() + timeout
    names = list(calls)
    outcomes = await asyncio.gather(*(_fetch(calls[name], deadline) for name in names))
    return dict(zip(names, outcomes, strict=True))


def _missing(part: str, service: str, outcome: Outcome) -> Missing:
    return Missing(part=part, service=service, reason=outcome.reason or "error",
                   status=outcome.problem.status if outcome.problem else None)


def _client(request: Request, name: str) -> ServiceClient:
    return get_service_client(request, name)


def _counts(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: summary.get(k) for k in ("total", "by_state", "by_escalation_level", "overdue",
                                        "median_days_to_complete", "as_of") if k in summary}


@router.get("/bodies/{body_id}/dashboard", response_model=Dashboard, tags=["bodies"],
            summary="A body's dashboard: the body, its counts, its overdue recommendations, its recent notices",
            description="Composed from the bodies, recommendations and notifications services concurrently. When "
                        "a service is down or slow, the answer still comes (200) within the view timeout, with "
                        "that part `null`, `partial: true` and the part named in `missing`.")
async def body_dashboard(body_id: BodyId, request: Request, principal: Caller) -> Dashboard:
    require_body_visible(principal, body_id)
    bodies, recs, notes = (_client(request, n) for n in ("bodies", "recommendations", "notifications"))
    scope = {"body_id": body_id}
    if principal.kind == "body":
        # A body's principal reads its own inbox (the service scopes it to the body).
        def notices() -> Awaitable[Any]:
            return notes.request("GET", "/notifications", principal=principal,
                                 params={"limit": NOTIFICATIONS_LIMIT})
    else:
        def notices() -> Awaitable[Any]:
            return notes.request("GET", "/notifications/deliveries", principal=principal,
                                 params={**scope, "limit": NOTIFICATIONS_LIMIT})

    outcomes = await fan_out(request, {
        "body": lambda: bodies.request("GET", f"/bodies/{body_id}", principal=principal),
        "counts": lambda: recs.request("GET", "/recommendations/summary", principal=principal, params=scope),
        "overdue": lambda: recs.request("GET", "/recommendations", principal=principal,
                                        params={**scope, "overdue": "true", "limit": OVERDUE_LIMIT}),
        "notifications": notices,
    })
    body = outcomes["body"]
    if body.problem is not None and body.problem.status < 500:
        raise body.problem  # 404 (absent or not this principal's) and the like decide the whole answer
    services = {"body": "bodies", "counts": "recommendations", "overdue": "recommendations",
                "notifications": "notifications"}
    missing = [_missing(part, services[part], o) for part, o in outcomes.items() if o.reason is not None]
    counts = outcomes["counts"].value
    return Dashboard(body=body.value, counts=Counts.model_validate(_counts(counts)) if counts is not None else None,
                     overdue=outcomes["overdue"].value, notifications=outcomes["notifications"].value,
                     partial=bool(missing), missing=missing)


@router.get("/overview", response_model=Overview, tags=["staff"],
            summary="The staff overview: national and regional roll-ups, the most overdue, awaiting review",
            description="Inspectorate staff only (403 for bodies). Composed concurrently from the "
                        "recommendations service; a part that does not come within the view timeout is `null` "
                        "and named in `missing` (200, `partial: true`).")
async def staff_overview(request: Request, principal: Caller) -> Overview:
    require_staff(principal)
    recs = _client(request, "recommendations")
    outcomes = await fan_out(request, {
        "summary": lambda: recs.request("GET", "/recommendations/summary", principal=principal),
        "most_overdue": lambda: recs.request("GET", "/recommendations", principal=principal, params={
            "overdue": "true", "sort": "due_date", "limit": OVERVIEW_LIMIT}),
        "awaiting_review": lambda: recs.request("GET", "/recommendations", principal=principal, params={
            "state": "awaiting_review", "sort": "-updated_at", "limit": OVERVIEW_LIMIT}),
    })
    summary = outcomes["summary"]
    missing: list[Missing] = []
    if summary.reason is not None:
        missing += [_missing("national", "recommendations", summary), _missing("regional", "recommendations", summary)]
    missing += [_missing(part, "recommendations", outcomes[part]) for part in ("most_overdue", "awaiting_review")
                if outcomes[part].reason is not None]
    value = summary.value
    return Overview(national=Counts.model_validate(_counts(value)) if value is not None else None,
                    regional=value.get("by_region") if value is not None else None,
                    most_overdue=outcomes["most_overdue"].value, awaiting_review=outcomes["awaiting_review"].value,
                    partial=bool(missing), missing=missing)
