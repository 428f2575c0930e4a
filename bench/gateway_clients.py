"""Which HTTP client should the gateway use downstream? Measure, don't guess.

Starts a tiny downstream (a raw ASGI app answering a body-sized JSON document, served by uvicorn in a process of
its own on a free port) and drives GETs at it from one async driver in this process through:

  httpx         plain httpx.AsyncClient (service_client(kind="httpx"))
  httpx-aiohttp httpx's API on the httpx-aiohttp transport (service_client(kind="aiohttp"))
  aiohttp       raw aiohttp.ClientSession

each with the same concurrency (32 workers) for `--seconds` (5) per run, `--runs` (3) runs per client, and prints
the median requests/s and p50/p99 latency. Run:  .venv/bin/python bench/gateway_clients.py
(`--url http://127.0.0.1:8001/healthz` measures against an already running service instead.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx

from rectrack.common.testing import free_port, wait_for_port


def service_client(base_url: str, *, timeout: float, kind: str) -> httpx.AsyncClient:
    """A pooled httpx client, on httpx's own transport or on aiohttp's (the two httpx candidates)."""
    from httpx_aiohttp import HttpxAiohttpClient

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    factory = HttpxAiohttpClient if kind == "aiohttp" else httpx.AsyncClient
    return factory(base_url=base_url, timeout=httpx.Timeout(timeout), limits=limits, trust_env=False)


PAYLOAD = json.dumps({
    "id": "west-midlands-police", "name": "West Midlands Police", "kind": "police_force", "region": "West Midlands",
    "status": "active", "version": 3, "webhook_url": None, "webhook_secret_set": False,
    "contacts": [{"name": "Inspection Liaison Officer", "email": "liaison@west-midlands.police.example",
                  "role": "liaison"}],
    "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-02T00:00:00Z"}).encode()


async def app(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]],
              send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
    """The downstream: every GET answers the same small JSON document."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(PAYLOAD)).encode())]})
    await send({"type": "http.response.body", "body": PAYLOAD})


def serve(port: int) -> None:
    """Run the downstream (in the child process)."""
    import uvicorn

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")


Get = Callable[[], Awaitable[None]]


async def drive(get: Get, concurrency: int, seconds: float) -> tuple[float, float, float]:
    """(requests/s, p50 ms, p99 ms) of `concurrency` workers calling `get` in a loop for `seconds`."""
    latencies: list[float] = []
    errors = 0
    stop_at = 0.0

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                await get()
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)

    # Warm the pool up first so connection set-up is not counted.
    stop_at = time.perf_counter() + 0.5
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.clear()
    errors = 0
    began = time.perf_counter()
    stop_at = began + seconds
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    if errors:
        print(f"  ({errors} errors)", file=sys.stderr)
    ordered = sorted(latencies)
    p50 = ordered[len(ordered) // 2] * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    return len(latencies) / elapsed, p50, p99


async def measure(kind: str, url: str, concurrency: int, seconds: float) -> tuple[float, float, float]:
    """One run of one client kind."""
    base, _, path = url.partition("//")[2].partition("/")
    base_url, path = f"http://{base}", "/" + path
    if kind == "aiohttp":
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(base_url, connector=connector,
                                         timeout=aiohttp.ClientTimeout(total=5)) as session:
            async def get() -> None:
                async with session.get(path) as response:
                    await response.read()
                    response.raise_for_status()
            return await drive(get, concurrency, seconds)
    client = service_client(base_url, timeout=5.0, kind="aiohttp" if kind == "httpx-aiohttp" else "httpx")
    async with client:
        async def get() -> None:
            response = await client.get(path)
            response.raise_for_status()
        return await drive(get, concurrency, seconds)


def main() -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help="measure against this URL instead of the built-in downstream")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--clients", default="httpx,httpx-aiohttp,aiohttp")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    child = None
    url = args.url
    if url is None:
        port = free_port()
        child = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}/bodies/west-midlands-police"
    try:
        kinds = [k.strip() for k in args.clients.split(",") if k.strip()]
        results: dict[str, list[tuple[float, float, float]]] = {k: [] for k in kinds}
        for run in range(args.runs):  # interleave the clients so drift on a shared machine hits all alike
            for kind in kinds:
                result = asyncio.run(measure(kind, url, args.concurrency, args.seconds))
                results[kind].append(result)
                print(f"run {run + 1} {kind:14} {result[0]:8.0f} req/s  p50 {result[1]:6.2f} ms  "
                      f"p99 {result[2]:6.2f} ms", file=sys.stderr)
    finally:
        if child is not None:
            child.terminate()
            child.wait(10)
    print(f"\nGET {url}: concurrency {args.concurrency}, {args.seconds:g} s a run, median of {args.runs} runs")
    print(f"{'client':16}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for kind, rows in results.items():
        rate, p50, p99 = (statistics.median(r[i] for r in rows) for i in range(3))
        print(f"{kind:16}{rate:10.0f}{p50:10.2f}{p99:10.2f}")


if __name__ == "__main__":
    main()
