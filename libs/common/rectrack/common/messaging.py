"""Connecting to NATS and declaring the JetStream streams."""

from __future__ import annotations

import logging

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from rectrack.common.events.subjects import ALL_STREAMS, DUPLICATE_WINDOW_SECONDS

log = logging.getLogger(__name__)


async def connect(url: str, *, name: str, connect_timeout: float = 2.0) -> Client:
    """A NATS connection that reconnects for ever once established."""
    return await nats.connect(
        url,
        name=name,
        connect_timeout=connect_timeout,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        allow_reconnect=True,
    )


async def ensure_streams(js: JetStreamContext, *, replicas: int = 1) -> None:
    """Create every rectrack stream, or bring an existing one to the expected config."""
    for spec in ALL_STREAMS:
        config = StreamConfig(
            name=spec.name,
            subjects=list(spec.subjects),
            storage=StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
        try:
            await js.stream_info(spec.name)
        except NotFoundError:
            try:
                await js.add_stream(config)
            except BadRequestError:  # another process created it first
                log.debug("stream %s created concurrently", spec.name)
            continue
        await js.update_stream(config)
