"""Request dependencies: the service context (settings, evidence storage, clock) and common parameters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated

from fastapi import Depends, Query, Request

from rectrack.common.clock import Clock
from rectrack.common.contracts import EscalationLevel, RecommendationState
from rectrack.recommendations.config import RecommendationsSettings
from rectrack.recommendations.queries import MAX_LIMIT, Filters
from rectrack.recommendations.schemas import Priority, RecommendationKind
from rectrack.recommendations.storage import EvidenceStorage


@dataclass
class ServiceContext:
    """What endpoints need besides the runtime."""

    settings: RecommendationsSettings
    storage: EvidenceStorage
    clock: Clock


async def get_context(request: Request) -> ServiceContext:
    """The context of the app serving this request."""
    return request.app.state.context  # type: ignore[no-any-return]


Context = Annotated[ServiceContext, Depends(get_context)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
# Bounded so a huge offset is a 422, not a database integer overflow (500).
MAX_OFFSET = 10_000_000
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]

StateParam = Annotated[list[RecommendationState], Query()]
LevelParam = Annotated[list[EscalationLevel], Query()]
KindParam = Annotated[list[RecommendationKind], Query()]
PriorityParam = Annotated[list[Priority], Query()]
Many = Annotated[list[str], Query(max_length=200)]


async def filters(
    body_id: Many = [],  # noqa: B006 - FastAPI copies defaults per request
    region: Many = [],  # noqa: B006
    body_kind: Many = [],  # noqa: B006
    report_id: Many = [],  # noqa: B006
    group_id: Annotated[str | None, Query(max_length=64)] = None,
    kind: KindParam = [],  # noqa: B006
    theme: Many = [],  # noqa: B006
    state: StateParam = [],  # noqa: B006
    escalation_level: LevelParam = [],  # noqa: B006
    priority: PriorityParam = [],  # noqa: B006
    overdue: bool | None = None,
    due_before: date | None = None,
    due_after: date | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Filters:
    """The filters of lists, summaries and exports, from the query string (repeat a key for several values)."""
    return Filters(body_id=body_id, region=region, body_kind=body_kind, report_id=report_id, group_id=group_id,
                   kind=list(kind), theme=theme, state=list(state), escalation_level=list(escalation_level),
                   priority=list(priority),
                   overdue=overdue, due_before=due_before, due_after=due_after, q=q)


FiltersParam = Annotated[Filters, Depends(filters)]
