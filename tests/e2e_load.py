"""Load for the fault tests: writes sent through the gateway at a bounded rate, retried across crashes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

RETRYABLE_STATUS = frozenset({502, 503, 504})


@dataclass
class Action:
    """One write through the gateway, sent until it is answered (same Idempotency-Key on every attempt)."""

    kind: str
    path: str
    body: dict[str, Any]
    token: str
    key: str = field(default_factory=lambda: uuid.uuid4().hex)
    meta: dict[str, Any] = field(default_factory=dict)
    outcome: str = "pending"  # accepted | rejected | abandoned
    status: int | None = None
    response: Any = None
    attempts: int = 0
    retried_after: list[str] = field(default_factory=list)
    started: float = 0.0
    answered: float = 0.0


class ActionLoad:
    """Sends actions through the gateway at a bounded rate and concurrency, retrying what a crash interrupts.

    Connection errors and 502/503/504 are retried with the same Idempotency-Key (a replay answers what the
    first attempt did); a 409 `idempotency-in-flight` (the first attempt died holding the key) is retried for
    `in_flight_patience` seconds, then the action is abandoned: the client never heard a 2xx for it.
    """

    def __init__(self, gateway_url: str, actions: list[Action], *, concurrency: int = 8, rate: float = 40.0,
                 deadline: float = 60.0, in_flight_patience: float = 8.0) -> None:
        self.url = f"{gateway_url}/api/v1"
        self.actions = actions
        self.concurrency = concurrency
        self.rate = rate
        self.deadline = deadline
        self.in_flight_patience = in_flight_patience
        self.finished = 0
        self._next = 0
        self._changed = asyncio.Condition()

    async def wait_finished(self, count: int) -> None:
        """Until `count` actions have been answered (or given up)."""
        async with self._changed:
            await self._changed.wait_for(lambda: self.finished >= min(count, len(self.actions)))

    async def run(self) -> list[Action]:
        """Send every action; returns them with their outcome."""
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=3.0), limits=limits) as client:
            self._t0 = time.monotonic()
            await asyncio.gather(*(self._worker(client) for _ in range(self.concurrency)))
        return self.actions

    async def _worker(self, client: httpx.AsyncClient) -> None:
        while self._next < len(self.actions):
            index = self._next
            self._next += 1
            due = self._t0 + index / self.rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._perform(client, self.actions[index])
            self.finished += 1
            async with self._changed:
                self._changed.notify_all()

    async def _perform(self, client: httpx.AsyncClient, action: Action) -> None:
        action.started = time.monotonic()
        headers = {"Authorization": f"Bearer {action.token}", "Idempotency-Key": action.key}
        in_flight_since: float | None = None
        pause = 0.1
        while True:
            action.attempts += 1
            reason = ""
            try:
                response = await client.post(self.url + action.path, json=action.body, headers=headers)
            except httpx.TransportError as exc:
                reason = type(exc).__name__
            else:
                action.status = response.status_code
                if 200 <= response.status_code < 300:
                    action.outcome, action.response, action.answered = "accepted", response.json(), time.monotonic()
                    return
                in_flight = response.status_code == 409 and "idempotency-in-flight" in response.text
                if response.status_code == 429:  # over the gateway's rate limit: wait as told
                    action.retried_after.append("429")
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                if response.status_code not in RETRYABLE_STATUS and not in_flight:
                    action.outcome, action.response = "rejected", response.text
                    return
                reason = str(response.status_code)
                if in_flight:
                    in_flight_since = in_flight_since or time.monotonic()
                    if time.monotonic() - in_flight_since > self.in_flight_patience:
                        action.outcome = "abandoned"
                        return
            action.retried_after.append(reason)
            if time.monotonic() - action.started > self.deadline:
                action.outcome = "abandoned"
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)


def summarise(actions: list[Action]) -> str:
    """One line: outcomes, retries, statuses of rejections."""
    outcomes = Counter(a.outcome for a in actions)
    retried = sum(1 for a in actions if a.retried_after)
    reasons = Counter(r for a in actions for r in a.retried_after)
    rejected = Counter((a.status, str(a.response)[:160]) for a in actions if a.outcome == "rejected")
    return f"outcomes={dict(outcomes)} retried={retried} retry_reasons={dict(reasons)} rejected={dict(rejected)}"
