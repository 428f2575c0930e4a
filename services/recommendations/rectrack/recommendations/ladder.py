"""The escalation ladder (DESIGN.md section 2): which level a due date deserves on a given day; pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from rectrack.common.contracts import ESCALATION_LEVELS, EscalationLevel

NONE: EscalationLevel = "none"
DUE_SOON: EscalationLevel = "due_soon"
OVERDUE: EscalationLevel = "overdue"
ESCALATED: EscalationLevel = "escalated"
ENGAGE: EscalationLevel = "engage"

# The levels above `none`, lowest first: each is reached when the due date falls on or before its threshold.
RUNGS: tuple[EscalationLevel, ...] = ESCALATION_LEVELS[1:]


@dataclass(frozen=True, slots=True)
class LadderDays:
    """The configured days of the ladder: before due for `due_soon`, past due for `escalated` and `engage`."""

    due_soon: int = 14
    escalated: int = 30
    engage: int = 90

    def __post_init__(self) -> None:
        if self.due_soon < 0:
            raise ValueError("due_soon days must be 0 or more")
        if not 0 < self.escalated < self.engage:
            raise ValueError("the ladder needs 0 < escalated days < engage days")

    def offset(self, level: EscalationLevel) -> int:
        """Days after the due date at which `level` is reached (negative: before it)."""
        offsets = {DUE_SOON: -self.due_soon, OVERDUE: 1, ESCALATED: self.escalated, ENGAGE: self.engage}
        if level not in offsets:
            raise ValueError(f"{level!r} is not a rung of the ladder")
        return offsets[level]


def rank(level: str) -> int:
    """Position of a level on the ladder (none = 0 ... engage = 4)."""
    return ESCALATION_LEVELS.index(level)  # type: ignore[arg-type]


def threshold(level: EscalationLevel, today: date, days: LadderDays) -> date:
    """The latest due date that has reached `level` on `today`."""
    return today - timedelta(days=days.offset(level))


def level_for(due_date: date | None, today: date, days: LadderDays) -> EscalationLevel:
    """The level a due date deserves on `today` (`none` without a due date)."""
    if due_date is None:
        return NONE
    reached = NONE
    for rung in RUNGS:
        if due_date <= threshold(rung, today, days):
            reached = rung
    return reached


def levels_between(previous: str, new: str) -> list[EscalationLevel]:
    """The rungs strictly between two levels going up (the ones passed over); empty going down."""
    return list(ESCALATION_LEVELS[rank(previous) + 1:rank(new)])


def rungs_up_to(level: str) -> list[EscalationLevel]:
    """Every rung from `due_soon` up to and including `level`."""
    return list(ESCALATION_LEVELS[1:rank(level) + 1])


def describe(level: EscalationLevel, due_date: date, today: date) -> str:
    """A one-line human reason for being at `level` on `today`."""
    delta = (today - due_date).days
    if level == NONE:
        return f"due {due_date.isoformat()}, not yet due soon"
    if delta < 0:
        return f"due {due_date.isoformat()}, in {-delta} day{'s' if delta != -1 else ''}"
    if delta == 0:
        return f"due {due_date.isoformat()}, today"
    return f"due {due_date.isoformat()}, {delta} day{'s' if delta != 1 else ''} past due"
