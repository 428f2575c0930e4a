"""Event consumers of the recommendations service."""

from __future__ import annotations

from rectrack.common.app import ServiceRuntime
from rectrack.common.events.subjects import BODY_STREAM
from rectrack.recommendations.bodies import CONSUMER_NAME, apply_body_event


def register_consumers(runtime: ServiceRuntime) -> None:
    """The bodies read model, fed by every body.* event."""
    runtime.consume(CONSUMER_NAME, BODY_STREAM, apply_body_event, filter_subject="body.>")
