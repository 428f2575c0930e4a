"""The ladder's pure rules: the level a due date deserves on a day, thresholds, levels passed over."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from rectrack.recommendations.ladder import (
    LadderDays,
    describe,
    level_for,
    levels_between,
    rank,
    rungs_up_to,
    threshold,
)

DUE = date(2030, 6, 30)
DAYS = LadderDays()


@pytest.mark.parametrize(("offset", "level"), [
    (-100, "none"), (-15, "none"), (-14, "due_soon"), (-1, "due_soon"), (0, "due_soon"),
    (1, "overdue"), (29, "overdue"), (30, "escalated"), (89, "escalated"), (90, "engage"), (1000, "engage"),
])
def test_level_for_each_boundary(offset: int, level: str) -> None:
    assert level_for(DUE, DUE + timedelta(days=offset), DAYS) == level


def test_no_due_date_never_escalates() -> None:
    assert level_for(None, DUE, DAYS) == "none"


def test_days_are_configuration() -> None:
    days = LadderDays(due_soon=7, escalated=10, engage=20)
    assert level_for(DUE, DUE - timedelta(days=8), days) == "none"
    assert level_for(DUE, DUE - timedelta(days=7), days) == "due_soon"
    assert level_for(DUE, DUE + timedelta(days=10), days) == "escalated"
    assert level_for(DUE, DUE + timedelta(days=20), days) == "engage"


@pytest.mark.parametrize("bad", [dict(due_soon=-1), dict(escalated=0), dict(escalated=90, engage=90)])
def test_inconsistent_days_are_refused(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        LadderDays(**bad)


def test_threshold_is_the_latest_due_date_at_a_level() -> None:
    today = date(2030, 1, 31)
    for level in ("due_soon", "overdue", "escalated", "engage"):
        latest = threshold(level, today, DAYS)  # type: ignore[arg-type]
        assert rank(level_for(latest, today, DAYS)) >= rank(level)
        assert rank(level_for(latest + timedelta(days=1), today, DAYS)) < rank(level)
    with pytest.raises(ValueError):
        threshold("none", today, DAYS)


def test_levels_passed_over() -> None:
    assert levels_between("none", "engage") == ["due_soon", "overdue", "escalated"]
    assert levels_between("overdue", "escalated") == []
    assert levels_between("engage", "none") == []
    assert rungs_up_to("escalated") == ["due_soon", "overdue", "escalated"]
    assert rungs_up_to("none") == []


def test_describe_reads_like_a_reason() -> None:
    assert describe("escalated", DUE, DUE + timedelta(days=30)) == "due 2030-06-30, 30 days past due"
    assert describe("due_soon", DUE, DUE - timedelta(days=1)) == "due 2030-06-30, in 1 day"
    assert describe("due_soon", DUE, DUE) == "due 2030-06-30, today"
