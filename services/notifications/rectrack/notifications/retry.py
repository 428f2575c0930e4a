"""Retry schedule for failed deliveries: exponential backoff with bounded jitter."""

import random
from collections.abc import Callable

# 2**64 times any sensible base is already far past any cap; stops float overflow.
_MAX_EXPONENT = 64


def next_attempt_delay(
    attempt: int,
    *,
    base_seconds: float,
    max_seconds: float,
    jitter: float = 0.1,
    rng: Callable[[], float] = random.random,
) -> float:
    """Return seconds to wait after failed attempt number ``attempt`` (1 for the first failure)."""
    if attempt < 1:
        raise ValueError("attempt counts from 1")
    if base_seconds < 0 or max_seconds < 0:
        raise ValueError("delays must not be negative")
    if not 0 <= jitter <= 1:
        raise ValueError("jitter is a fraction between 0 and 1")
    delay = min(max_seconds, base_seconds * 2 ** min(attempt - 1, _MAX_EXPONENT))
    # Spread retries by up to ±jitter so receivers that failed together do not all return at once.
    spread = 1 - jitter + 2 * jitter * rng()
    return min(max_seconds, max(0.0, delay * spread))


def should_give_up(attempt: int, max_attempts: int) -> bool:
    """Return True once ``attempt`` attempts have been made and the budget is ``max_attempts``."""
    return attempt >= max_attempts
