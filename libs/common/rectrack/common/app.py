"""The runtime every service process shares: database, NATS, outbox relay, consumers, and the app factory."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Request
from nats.aio.client import Client
from nats.js import JetStreamContext
from sqlalchemy import Table

from rectrack.common import messaging
from rectrack.common.auth import PRINCIPAL_HEADER, InternalVerifier, Principal
from rectrack.common.db import Database
from rectrack.common.errors import install_problem_handlers
from rectrack.common.events.consumer import EventConsumer, Handler
from rectrack.common.events.outbox import Outbox
from rectrack.common.events.relay import OutboxRelay
from rectrack.common.events.subjects import StreamSpec
from rectrack.common.health import health_router
from rectrack.common.idempotency import Idempotency, IdempotentRequest
from rectrack.common.logs import RequestIdMiddleware
from rectrack.common.settings import PlatformSettings

log = logging.getLogger(__name__)


class ServiceRuntime:
    """One service process: its database, its outbox and relay, its consumers, its NATS connection."""

    def __init__(self, *, name: str, platform: PlatformSettings, database_url: str, outbox_table: Table,
                 inbox_table: Table, idempotency_table: Table | None = None, run_relay: bool = True) -> None:
        self.name = name
        self.platform = platform
        self.db = Database(database_url)
        self.outbox = Outbox(outbox_table, source=name)
        self.inbox_table = inbox_table
        self.outbox_table = outbox_table
        self.run_relay = run_relay
        self.nc: Client | None = None
        self.js: JetStreamContext | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[EventConsumer] = []
        self._consumer_specs: list[tuple[str, StreamSpec, Handler, str | None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.verifier = InternalVerifier(platform.internal_secret)
        self.idempotency = Idempotency(self.db, idempotency_table) if idempotency_table is not None else None

    def consume(self, durable: str, stream: StreamSpec, handler: Handler, *, filter_subject: str | None = None) -> None:
        """Register a durable consumer to start with the runtime."""
        self._consumer_specs.append((durable, stream, handler, filter_subject))

    async def start(self) -> None:
        """Start NATS (in the background, so the service serves writes while NATS is away)."""
        self._tasks.append(asyncio.create_task(self._connect_and_run(), name=f"{self.name}-nats"))

    async def _connect_and_run(self) -> None:
        while True:
            try:
                self.nc = await messaging.connect(self.platform.nats_url, name=self.name)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("NATS at %s not reachable yet: %s", self.platform.nats_url, exc)
                await asyncio.sleep(1.0)
        self.js = self.nc.jetstream()
        while True:
            try:
                await messaging.ensure_streams(self.js, replicas=self.platform.stream_replicas)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("cannot declare streams yet: %s", exc)
                await asyncio.sleep(1.0)
        if self.run_relay:
            self.relay = OutboxRelay(self.db, self.outbox_table, self.js,
                                     sweep_seconds=self.platform.relay_sweep_seconds)
            self._tasks.append(asyncio.create_task(self.relay.run(), name=f"{self.name}-relay"))
        for durable, stream, handler, filter_subject in self._consumer_specs:
            consumer = EventConsumer(name=durable, db=self.db, inbox=self.inbox_table, js=self.js, stream=stream,
                                     handler=handler, filter_subject=filter_subject,
                                     max_deliver=self.platform.consumer_max_deliver,
                                     ack_wait=self.platform.consumer_ack_wait_seconds)
            self.consumers.append(consumer)
            self._tasks.append(asyncio.create_task(consumer.run(), name=f"{self.name}-{durable}"))

    def background(self, coroutine: Any, name: str) -> None:
        """Run a coroutine for the life of the runtime; stop() cancels it."""
        self._tasks.append(asyncio.create_task(coroutine, name=f"{self.name}-{name}"))

    async def stop(self) -> None:
        """Cancel background work and close connections."""
        for task in self._tasks:
            while not task.done():  # cancel until it ends: a cancel can race a task's own wake-up
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
            with suppress(asyncio.CancelledError, Exception):
                task.result()
        self._tasks.clear()
        if self.nc is not None and not self.nc.is_closed:
            # close(), not drain(): a pull request cancelled mid-fetch leaves its expiry status in the
            # subscription's queue, which nobody takes, so drain() would wait out its whole timeout. Every
            # handler has committed or rolled back by now and the relay publishes synchronously: nothing is lost.
            with suppress(Exception):
                await self.nc.close()
        await self.db.dispose()

    async def check_nats(self) -> None:
        """Readiness: raise unless NATS is connected."""
        if self.nc is None or not self.nc.is_connected:
            raise ConnectionError("NATS not connected")

    def principal(self, token: str | None) -> Principal:
        """The gateway-signed principal of a request, or a 401 problem."""
        return self.verifier.verify(token)


def runtime_of(request: Request) -> ServiceRuntime:
    """The runtime of the app serving this request."""
    return request.app.state.runtime  # type: ignore[no-any-return]


# Dependencies are coroutines, not plain functions: FastAPI runs a plain one in a worker thread per request.
async def get_runtime(request: Request) -> ServiceRuntime:
    """The runtime of the app serving this request (as a dependency)."""
    return runtime_of(request)


async def get_principal(request: Request,
                  token: Annotated[str | None, Header(alias=PRINCIPAL_HEADER, include_in_schema=False)] = None,
                  ) -> Principal:
    """The caller, from the gateway's signed header; 401 without it."""
    return runtime_of(request).principal(token)


Runtime = Annotated[ServiceRuntime, Depends(get_runtime)]
CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def claim_idempotency_key(request: Request, principal: CurrentPrincipal) -> AsyncIterator[IdempotentRequest]:
    """Claim the request's Idempotency-Key (if any) for the endpoint; released if it does not complete."""
    idempotency = runtime_of(request).idempotency
    if idempotency is None:
        raise RuntimeError("this service has no idempotency_keys table")
    async for claim in idempotency.guard(request, principal):
        yield claim


IdempotencyKey = Annotated[IdempotentRequest, Depends(claim_idempotency_key)]


def create_service_app(runtime: ServiceRuntime, *, title: str, routers: Sequence[APIRouter],
                       description: str = "") -> FastAPI:
    """A FastAPI app with problem+json errors, request ids, health checks and the runtime's lifespan."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=title, description=description, lifespan=lifespan, version="1.0.0")
    app.state.runtime = runtime
    install_problem_handlers(app)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(health_router({"database": runtime.db.ping, "nats": runtime.check_nats}))
    for router in routers:
        app.include_router(router)
    return app
