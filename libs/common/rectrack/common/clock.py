"""The one injectable clock every time-dependent rule reads."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the time; tests and `rectrack escalate --as-of` substitute their own."""

    def now(self) -> datetime: ...

    def today(self) -> date: ...


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        """The current instant."""
        return datetime.now(UTC)

    def today(self) -> date:
        """Today's date in UTC."""
        return self.now().date()


class FixedClock:
    """A clock that stands still until moved."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        self._at = at

    def now(self) -> datetime:
        """The instant it was set to."""
        return self._at

    def today(self) -> date:
        """The date it was set to."""
        return self._at.date()

    def set(self, at: datetime) -> None:
        """Move to an instant."""
        self._at = at if at.tzinfo else at.replace(tzinfo=UTC)

    def advance(self, **delta: float) -> None:
        """Move forward by a timedelta's keyword arguments."""
        self._at += timedelta(**delta)
