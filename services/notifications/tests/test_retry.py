"""Retry schedule: exponential growth, a cap, and jitter that stays within its bounds."""

import random

import pytest

from rectrack.notifications.retry import next_attempt_delay, should_give_up


def _no_jitter() -> float:
    # rng() == 0.5 puts the jitter factor at exactly 1.
    return 0.5


def test_delay_doubles_from_the_base() -> None:
    delays = [next_attempt_delay(attempt, base_seconds=10, max_seconds=3600, rng=_no_jitter) for attempt in range(1, 6)]
    assert delays == pytest.approx([10, 20, 40, 80, 160])


def test_delay_is_capped() -> None:
    assert next_attempt_delay(20, base_seconds=10, max_seconds=3600, rng=_no_jitter) == 3600


def test_huge_attempt_numbers_do_not_overflow() -> None:
    assert next_attempt_delay(10_000, base_seconds=10, max_seconds=3600, rng=_no_jitter) == 3600


def test_jitter_spreads_within_its_bounds() -> None:
    low = next_attempt_delay(3, base_seconds=10, max_seconds=3600, jitter=0.1, rng=lambda: 0.0)
    high = next_attempt_delay(3, base_seconds=10, max_seconds=3600, jitter=0.1, rng=lambda: 1.0)
    assert low == pytest.approx(36)
    assert high == pytest.approx(44)


def test_jittered_delays_never_exceed_the_cap_or_leave_the_band() -> None:
    rng = random.Random(42)
    for attempt in range(1, 30):
        delay = next_attempt_delay(attempt, base_seconds=5, max_seconds=600, jitter=0.25, rng=rng.random)
        nominal = min(600, 5 * 2 ** (attempt - 1))
        assert 0.75 * nominal <= delay <= min(600, 1.25 * nominal)


def test_zero_jitter_is_deterministic() -> None:
    assert next_attempt_delay(2, base_seconds=1, max_seconds=60, jitter=0, rng=lambda: 0.9) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"attempt": 0, "base_seconds": 1, "max_seconds": 60},
        {"attempt": 1, "base_seconds": -1, "max_seconds": 60},
        {"attempt": 1, "base_seconds": 1, "max_seconds": 60, "jitter": 1.5},
    ],
)
def test_nonsense_arguments_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        next_attempt_delay(**kwargs)


def test_should_give_up_once_the_budget_is_spent() -> None:
    assert not should_give_up(1, 5)
    assert not should_give_up(4, 5)
    assert should_give_up(5, 5)
    assert should_give_up(6, 5)
