"""The load tool of `make bench`: a small asyncio client on aiohttp.

Closed loop: a fixed number of workers (the concurrency), each sending its next request as soon as the last is
answered, for a fixed duration. Open loop: requests started at a fixed rate whatever the answers do.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

Call = Callable[[aiohttp.ClientSession, int], Awaitable[int]]


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


@dataclass
class LoadResult:
    """What one run measured."""

    duration: float
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: Counter[int] = field(default_factory=Counter)

    @property
    def ok(self) -> int:
        """Requests answered 2xx."""
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        """Successful requests per second."""
        return self.ok / self.duration if self.duration else 0.0

    @property
    def p50(self) -> float:
        """Median latency (ms) of successful requests."""
        return percentile(self.latencies_ms, 0.50)

    @property
    def p99(self) -> float:
        """99th percentile latency (ms) of successful requests."""
        return percentile(self.latencies_ms, 0.99)


def session(concurrency: int, timeout: float = 30.0) -> aiohttp.ClientSession:
    """A session with one pooled connection per worker."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency),
                                 timeout=aiohttp.ClientTimeout(total=timeout))


async def send(client: aiohttp.ClientSession, method: str, url: str, *, headers: dict[str, str] | None = None,
               json: Any = None) -> int:
    """One request, its body read; returns the status."""
    async with client.request(method, url, headers=headers, json=json) as response:
        await response.read()
        return response.status


async def closed_loop(call: Call, *, concurrency: int, duration: float, warmup: float = 0.5) -> LoadResult:
    """`concurrency` workers calling back to back for `duration` seconds (after a short warm-up)."""
    async with session(concurrency) as client:
        counter = iter(range(10**12))
        if warmup:
            end = time.perf_counter() + warmup
            await asyncio.gather(*(_worker(client, call, counter, end, None) for _ in range(concurrency)))
        result = LoadResult(duration=duration)
        end = time.perf_counter() + duration
        started = time.perf_counter()
        await asyncio.gather(*(_worker(client, call, counter, end, result) for _ in range(concurrency)))
        result.duration = time.perf_counter() - started
        return result


async def _worker(client: aiohttp.ClientSession, call: Call, counter: Any, end: float,
                  result: LoadResult | None) -> None:
    while time.perf_counter() < end:
        began = time.perf_counter()
        try:
            status = await call(client, next(counter))
        except (aiohttp.ClientError, TimeoutError, OSError):
            if result is not None:
                result.errors += 1
            continue
        if result is None:
            continue
        result.statuses[status] += 1
        if 200 <= status < 300:
            result.latencies_ms.append((time.perf_counter() - began) * 1000)
        else:
            result.errors += 1


async def open_loop(call: Callable[[aiohttp.ClientSession, int], Awaitable[Any]], *, rate: float, duration: float,
                    max_in_flight: int = 256) -> tuple[list[Any], float]:
    """Start `rate` calls per second for `duration` seconds; returns their results (or exceptions) and the time."""
    total = int(rate * duration)
    gate = asyncio.Semaphore(max_in_flight)
    async with session(max_in_flight) as client:
        started = time.perf_counter()

        async def one(n: int) -> Any:
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            async with gate:
                return await call(client, n)

        results = await asyncio.gather(*(one(n) for n in range(total)), return_exceptions=True)
        return list(results), time.perf_counter() - started
