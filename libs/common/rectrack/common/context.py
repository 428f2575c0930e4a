"""Request-scoped context: the correlation id carried through HTTP headers and event envelopes."""

from __future__ import annotations

from contextvars import ContextVar

import structlog

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)
causation_id_var: ContextVar[str | None] = ContextVar("causation_id", default=None)

REQUEST_ID_HEADER = "X-Request-ID"


def bind_correlation(correlation_id: str | None, causation_id: str | None = None) -> None:
    """Make this id the correlation id of everything the current task logs or emits."""
    correlation_id_var.set(correlation_id)
    causation_id_var.set(causation_id)
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id)


def current_correlation_id() -> str | None:
    """The correlation id of the current task, if any."""
    return correlation_id_var.get()
