"""Helpers of the gateway tests: a real service in a uvicorn server on a free port, in a background thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import uvicorn

from rectrack.common.testing import free_port
from rectrack.gateway.config import GatewaySettings


class ThreadedServer:
    """Serves an ASGI app with uvicorn on 127.0.0.1:<free port> from a thread with its own event loop."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"uvicorn-{self.port}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.server.serve())
        self.loop.close()

    def start(self) -> ThreadedServer:
        self.thread.start()
        for _ in range(300):
            if self.server.started:
                return self
            if not self.thread.is_alive():
                break
            threading.Event().wait(0.05)
        raise RuntimeError("uvicorn did not start")

    def stop(self) -> None:
        runtime = getattr(self.app.state, "runtime", None)
        if runtime is not None and self.loop is not None and self.thread.is_alive():
            # Python 3.11's wait_for can swallow one cancel of the outbox relay (reported to the lead);
            # cancel its tasks until they end so the service's shutdown never hangs.
            asyncio.run_coroutine_threadsafe(_cancel_until_done(runtime._tasks), self.loop).result(10)
        self.server.should_exit = True
        self.thread.join(15)


async def _cancel_until_done(tasks: list[asyncio.Task[None]]) -> None:
    for task in list(tasks):
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)


def gateway_settings(bodies_url: str, **extra: object) -> GatewaySettings:
    """Settings pointing at the given bodies service; the other services are nowhere."""
    dead = f"http://127.0.0.1:{free_port()}"
    return GatewaySettings(bodies_url=bodies_url, recommendations_url=dead, notifications_url=dead,
                           **extra)  # type: ignore[arg-type]
