"""`make bench`: load scenarios on this machine, everything on one box; prints one table of medians.

    .venv/bin/python bench/run.py            # full: 100,000 and 1,000,000 rows, 5 runs of 10 s (about 15 min)
    .venv/bin/python bench/run.py --quick    # 100,000 rows, 3 runs of 3 s (under two minutes)

PostgreSQL figures are added when RECTRACK_BENCH_POSTGRES_URL names a server (an admin URL such as
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres): each run gets a throwaway database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform as host
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import scenarios
import sizes
from table import Report

from rectrack.common.launcher import LocalPlatform

STARTED = time.monotonic()

LOAD_TOOL = ("load tool: bench/loadgen.py, an asyncio client on aiohttp in this process (closed loop: fixed "
             "concurrency for a fixed duration, next request as soon as the last is answered; open loop: a "
             "fixed start rate)")


@dataclass(frozen=True)
class Plan:
    """How much of everything to do."""

    runs: int
    duration: float
    latency_drain: float
    read_concurrency: int
    write_concurrency: int
    latency_rate: float
    latency_duration: float
    latency_runs: int
    sizes: tuple[int, ...]
    size_runs: dict[int, int]
    summary_repeats: int


QUICK = Plan(runs=3, duration=2.5, latency_drain=10.0, read_concurrency=32, write_concurrency=8, latency_rate=100.0,
             latency_duration=4.0, latency_runs=1, sizes=(100_000,), size_runs={100_000: 1}, summary_repeats=5)
FULL = Plan(runs=5, duration=10.0, latency_drain=30.0, read_concurrency=32, write_concurrency=8, latency_rate=100.0,
            latency_duration=10.0, latency_runs=3, sizes=(100_000, 1_000_000),
            size_runs={100_000: 3, 1_000_000: 3}, summary_repeats=9)

PLATFORM_ENV = {
    "RECTRACK_LOG_LEVEL": "WARNING",  # request logs off: the figures are the services', not the terminal's
    "RECTRACK_GATEWAY_RATE_LIMIT_PER_SECOND": "off",  # the per-principal limit would cap every figure at 50/s
    "RECTRACK_RECOMMENDATIONS_ESCALATION_INTERVAL_SECONDS": "86400",
    "RECTRACK_GATEWAY_DOWNSTREAM_TIMEOUT": "120",  # the summary at 1,000,000 rows may take longer than 5 s
}


def log(message: str) -> None:
    """Progress goes to stderr; the table to stdout."""
    print(message, file=sys.stderr, flush=True)


def run_all(plan: Plan, report: Report) -> None:
    """Reads, writes, event latency and memory on one platform; then escalation and summary at each size."""
    with tempfile.TemporaryDirectory(prefix="rectrack-bench-") as folder:
        platform = LocalPlatform(Path(folder), extra_env=PLATFORM_ENV)
        try:
            log("starting the platform (NATS, bodies, recommendations, notifications, scheduler, gateway) ...")
            scenarios.start_platform(platform)
            fx = scenarios.prepare(platform)
            memory = scenarios.MemoryWatch(scenarios.platform_pids(platform))
            time.sleep(1.0)
            memory.sample_idle()
            asyncio.run(_http_runs(plan, report, fx, memory))
            asyncio.run(_latency_runs(plan, report, fx, memory))
            _memory_rows(report, memory, plan)
            size_scenarios(plan, report, platform)
        finally:
            platform.stop()


async def _http_runs(plan: Plan, report: Report, fx: scenarios.Fixture, memory: scenarios.MemoryWatch) -> None:
    gw, direct, posts = [], [], []
    for run in range(plan.runs):
        gw.append(await scenarios.under_watch(memory, scenarios.read_through_gateway(
            fx, plan.read_concurrency, plan.duration)))
        direct.append(await scenarios.under_watch(memory, scenarios.read_direct(
            fx, plan.read_concurrency, plan.duration)))
        posts.append(await scenarios.under_watch(memory, scenarios.post_progress(
            fx, plan.write_concurrency, plan.duration)))
        log(f"  run {run + 1}/{plan.runs}: gateway GET {gw[-1].rps:,.0f}/s, direct GET {direct[-1].rps:,.0f}/s, "
            f"progress POST {posts[-1].rps:,.0f}/s ({posts[-1].errors} errors)")
    closed = f"closed loop, {plan.runs} runs x {plan.duration:g} s (after 0.5 s warm-up)"
    ref = report.command(f"GET {fx.gateway}/api/v1/recommendations/<id>, Authorization: Bearer <inspector JWT>; "
                         f"concurrency {plan.read_concurrency}; {closed}")
    report.add("GET recommendation via gateway", "throughput", "req/s", [r.rps for r in gw], ref, 0)
    report.add("GET recommendation via gateway", "latency p50", "ms", [r.p50 for r in gw], ref, 2)
    report.add("GET recommendation via gateway", "latency p99", "ms", [r.p99 for r in gw], ref, 2)
    report.add("GET recommendation via gateway", "errors", "count", [r.errors for r in gw], ref, 0)
    ref = report.command(f"GET {fx.service}/recommendations/<id>, X-Rectrack-Principal: <InternalSigner token for "
                         f"the same inspector>; concurrency {plan.read_concurrency}; {closed}")
    report.add("GET recommendation direct to service", "throughput", "req/s", [r.rps for r in direct], ref, 0)
    report.add("GET recommendation direct to service", "latency p50", "ms", [r.p50 for r in direct], ref, 2)
    report.add("GET recommendation direct to service", "latency p99", "ms", [r.p99 for r in direct], ref, 2)
    report.add("GET recommendation direct to service", "errors", "count", [r.errors for r in direct], ref, 0)
    ref = report.command("ratios per run of [1] to [2] (runs interleaved: gateway, direct, progress)")
    report.add("gateway / direct", "throughput ratio", "x", [g.rps / d.rps if d.rps else float("nan")
                                                             for g, d in zip(gw, direct, strict=True)], ref, 2)
    report.add("gateway / direct", "p50 latency ratio", "x", [g.p50 / d.p50 if d.p50 else float("nan")
                                                              for g, d in zip(gw, direct, strict=True)], ref, 2)
    ref = report.command(f"POST {fx.gateway}/api/v1/recommendations/<id>/progress, JSON "
                         f'{{"narrative": "...", "rag": "green"}}, bearer <body JWT>; concurrency '
                         f"{plan.write_concurrency}; {closed}")
    report.add("POST progress via gateway", "throughput", "req/s", [r.rps for r in posts], ref, 0)
    report.add("POST progress via gateway", "latency p50", "ms", [r.p50 for r in posts], ref, 2)
    report.add("POST progress via gateway", "latency p99", "ms", [r.p99 for r in posts], ref, 2)
    report.add("POST progress via gateway", "errors", "count", [r.errors for r in posts], ref, 0)


async def _latency_runs(plan: Plan, report: Report, fx: scenarios.Fixture, memory: scenarios.MemoryWatch) -> None:
    results = []
    for run in range(plan.latency_runs):
        result = await scenarios.under_watch(memory, scenarios.event_latency(
            fx, plan.latency_rate, plan.latency_duration, plan.latency_drain))
        results.append(result)
        figures = scenarios.summarise_latency(result)
        log(f"  latency run {run + 1}/{plan.latency_runs}: {result.accepted}/{result.sent} issued, "
            f"{result.seen} notices seen; server p50 {figures['server_p50']:.0f} ms, p99 "
            f"{figures['server_p99']:.0f} ms; client p50 {figures['client_p50']:.0f} ms")
    figures = [scenarios.summarise_latency(r) for r in results]
    ref = report.command(
        f"open loop: POST {fx.gateway}/api/v1/recommendations (issue: true, one body) at "
        f"{plan.latency_rate:g}/s for {plan.latency_duration:g} s, {plan.latency_runs} run(s); the body's inbox "
        f"GET /api/v1/notifications polled every 50 ms. client: from the 201 (the commit is before it) to the first "
        f"poll showing the notice; issued_at -> created_at: the two services' own stamps (same box; issued_at is "
        f"taken as the request starts, before it waits for the database)")
    scenario = f"event: commit -> in-app notice @{plan.latency_rate:g}/s"
    report.add(scenario, "p50, 201 -> in inbox (client)", "ms", [f["client_p50"] for f in figures], ref, 0)
    report.add(scenario, "p99, 201 -> in inbox (client)", "ms", [f["client_p99"] for f in figures], ref, 0)
    report.add(scenario, "p50, issued_at -> created_at", "ms", [f["server_p50"] for f in figures], ref, 0)
    report.add(scenario, "p99, issued_at -> created_at", "ms", [f["server_p99"] for f in figures], ref, 0)
    report.add(scenario, "notices seen / issued", "%", [100 * r.seen / r.accepted if r.accepted else float("nan")
                                                       for r in results], ref, 1)
    report.add(scenario, "achieved send rate", "req/s", [r.accepted / r.send_seconds for r in results], ref, 0)


def _memory_rows(report: Report, memory: scenarios.MemoryWatch, plan: Plan) -> None:
    ref = report.command("VmRSS from /proc/<pid>/status: idle = once after start and setup; under load = peak of "
                         "samples every 0.25 s during every run of [1], [2], [4] and the event-latency runs")
    for name in memory.pids:
        report.add(f"memory: {name}", "RSS idle", "MiB", [memory.idle.get(name, float("nan"))], ref, 1)
        report.add(f"memory: {name}", "RSS peak under load", "MiB", [memory.peak.get(name, float("nan"))], ref, 1)


def size_scenarios(plan: Plan, report: Report, platform: LocalPlatform) -> None:
    """Escalation and summary at each size, SQLite and (when configured) PostgreSQL."""
    backends = ["sqlite"] + (["postgresql"] if os.environ.get(sizes.POSTGRES_ENV) else [])
    staff = scenarios.token("inspector", subject=scenarios.INSPECTOR)
    results = []
    for backend in backends:
        for total in plan.sizes:
            log(f"{backend}, {total:,} recommendations ...")
            results.append(sizes.run_size(platform, backend, total, plan.size_runs[total],
                                          plan.summary_repeats, staff, log))
    esc_ref = report.command(
        "rectrack.recommendations.escalation_bench.bench_escalation(url, total, changing=10000) on a fresh database "
        "per run: open recommendations generated in the database, then one pass where nothing changes and one "
        "where 10,000 change level (rectrack.recommendations.escalation.run_pass, FixedClock)")
    sum_ref = report.command(
        f"GET /api/v1/recommendations/summary (inspector) through the gateway, then GET /recommendations/summary "
        f"straight to the service; sequential, 1 warm-up + {plan.summary_repeats} timed each, on the database of "
        f"the last escalation run (its outbox emptied; the platform's recommendations service restarted on it)")
    for r in results:
        name = f"{r.total:,} recs, {r.backend}"
        report.add(f"escalation pass, {name}", "nothing changing", "ms",
                   [e["pass_nothing_changes_ms"] for e in r.escalation], esc_ref, 1)
        report.add(f"escalation pass, {name}", f"{sizes.CHANGING:,} changing", "ms",
                   [e["pass_changing_ms"] for e in r.escalation], esc_ref, 0)
    for r in results:
        name = f"{r.total:,} recs, {r.backend}"
        report.add(f"staff summary, {name}", "via gateway", "ms", r.summary_gateway_ms or [float("nan")], sum_ref, 1)
        report.add(f"staff summary, {name}", "direct to service", "ms", r.summary_direct_ms or [float("nan")],
                   sum_ref, 1)
        if r.summary_status != 200:
            report.notes.append(f"summary at {name} answered {r.summary_status}")


def main() -> None:
    """Run the plan and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100,000 rows only, shorter and fewer runs")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    os.environ.setdefault("RECTRACK_LOG_JSON", "false")
    report = Report()
    report.notes.append(LOAD_TOOL)
    report.notes.append("platform env: " + ", ".join(f"{k}={v}" for k, v in PLATFORM_ENV.items()))
    report.notes.append("everything on one box: the load client, NATS, the three services, the scheduler, the "
                        "gateway; SQLite under a temporary folder unless stated")
    run_all(plan, report)
    cpu = os.cpu_count()
    print()
    print(f"rectrack bench ({'quick' if args.quick else 'full'}) on {host.node()}: {cpu} CPUs, "
          f"{host.system()} {host.release()}, Python {host.python_version()}; medians of the runs; "
          f"took {time.monotonic() - STARTED:.0f} s")
    print(f"command: {Path(sys.executable).name} bench/run.py{' --quick' if args.quick else ''}"
          f"{'  (RECTRACK_BENCH_POSTGRES_URL set)' if os.environ.get(sizes.POSTGRES_ENV) else ''}")
    print()
    print(report.render())


if __name__ == "__main__":
    main()
