"""Running wrk against a server and reading what a run cost: req/s, latency, CPU per request, sessions.

Shared by bench/run.py (`make bench`) and bench/compare.py (`make bench-compare`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import seed
from procstat import connections_per_process, machine_cpu_ticks, tree_cpu_seconds
from report import Result, Route

if TYPE_CHECKING:
    from gunicorn_process import Gunicorn
    from tests.fixtures.servers import PostgresServer

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk.lua"


def phase(message: str) -> None:
    """One progress line per phase, with a timestamp to see where the time goes."""
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def run_wrk(
    url: str,
    route: Route,
    args: argparse.Namespace,
    extra: list[str],
    duration: float,
    sample: Callable[[], None] | None = None,
) -> Result:
    """Run wrk once and read the JSON line that wrk.lua's done() prints; `sample` runs once it is going."""
    command = [
        "wrk",
        f"--threads={args.threads}",
        f"--connections={args.connections}",
        f"--duration={max(1, round(duration))}s",
        "--timeout=5s",
        "--latency",
        f"--script={WRK_SCRIPT}",
        url,
        "--",
        route.mode,
        *extra,
    ]
    client_before = _children_cpu_seconds()
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as wrk:
        if sample is not None:
            time.sleep(min(1.0, duration / 2))  # wrk has opened its connections by then
            sample()
        try:
            stdout, stderr = wrk.communicate(timeout=duration + 60)
        except subprocess.TimeoutExpired:
            wrk.kill()
            raise
    client_cpu = _children_cpu_seconds() - client_before
    match = re.search(r"^BENCH_JSON (\{.*\})$", stdout, re.MULTILINE)
    if wrk.returncode != 0 or match is None:
        raise RuntimeError(f"wrk failed (exit {wrk.returncode}):\n{stdout}\n{stderr}")
    data = json.loads(match.group(1))
    seconds = data["duration_us"] / 1e6
    return Result(
        route=route.label,
        requests=data["requests"],
        rps=data["requests"] / seconds if seconds else 0.0,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        max_ms=data["max_us"] / 1000,
        # wrk counts every status >= 400 here; our routes answer 200 or 201, never 3xx.
        non_2xx=data["status_errors"],
        socket_errors=data["connect_errors"] + data["read_errors"] + data["write_errors"] + data["timeouts"],
        client_cpu_ms=client_cpu * 1000 / data["requests"] if data["requests"] else 0.0,
    )


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# (CPU seconds of the app so far, CPU seconds of PostgreSQL so far, sessions PostgreSQL has opened,
# sessions open now)
Probe = Callable[[], tuple[float, float, int, int]]


def probe_for(server: Gunicorn, postgres: PostgresServer) -> Probe:
    """A probe of the counters that `measure` compares before and after a run."""

    def probe() -> tuple[float, float, int, int]:
        counts = postgres.psql(
            "SELECT (SELECT sessions FROM pg_stat_database WHERE datname = current_database()) || ' ' ||"
            " (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database());",
            dbname=seed.DATABASE,
        ).split()
        opened, open_now = (int(value) for value in counts) if len(counts) == 2 else (0, 0)  # noqa: PLR2004 - the two counts
        return server.cpu_seconds(), tree_cpu_seconds(postgres.pid), opened, open_now

    return probe


def split_for(server: Gunicorn) -> Callable[[], list[int]]:
    """The number of wrk's connections each worker holds, right now."""
    return lambda: connections_per_process(server.worker_pids(), server.port)


def measure(
    url: str,
    route: Route,
    args: argparse.Namespace,
    extra: list[str],
    probe: Probe,
    split: Callable[[], list[int]] | None = None,
) -> Result:
    """A short warm-up (pools, caches, the JIT of wrk's Lua), then the measured run."""
    phase(f"warm-up {route.label} ({args.warmup:.0f} s)")
    run_wrk(url, route, args, extra, args.warmup)
    phase(f"measure {route.label} ({args.duration:.0f} s, {args.connections} connections, {args.threads} threads)")
    app_before, db_before, sessions_before, open_before = probe()
    busy_before, total_before = machine_cpu_ticks()
    connections: list[int] = []
    result = run_wrk(url, route, args, extra, args.duration, (lambda: connections.extend(split())) if split else None)
    result.connections_per_worker = connections
    busy_after, total_after = machine_cpu_ticks()
    app_after, db_after, sessions_after, open_after = probe()
    if total_after > total_before:
        result.machine_cpu_busy = (busy_after - busy_before) / (total_after - total_before)
    # Less the probe's own psql session, which the second count includes.
    result.db_sessions_opened = max(0, sessions_after - sessions_before - 1)
    # A pool that grew to the concurrency it met opened sessions that are still open: not churn.
    result.db_sessions_closed = max(0, result.db_sessions_opened - (open_after - open_before))
    if result.requests:
        result.app_cpu_ms = (app_after - app_before) * 1000 / result.requests
        result.db_cpu_ms = (db_after - db_before) * 1000 / result.requests
        # The bench's own processes' share of every core: on an idle machine, the machine's share.
        own_ms = (result.app_cpu_ms + result.db_cpu_ms + result.client_cpu_ms) * result.requests
        result.bench_cpu_busy = own_ms / 1000 / (result.requests / result.rps) / (os.cpu_count() or 1)
    phase(
        f"  {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
        f"CPU/request {result.app_cpu_ms:.2f} ms app + {result.db_cpu_ms:.2f} ms db "
        f"+ {result.client_cpu_ms:.2f} ms wrk, "
        f"non-2xx {result.non_2xx}, socket errors {result.socket_errors}, "
        f"new PostgreSQL sessions {result.db_sessions_opened} ({result.db_sessions_closed} of them closed), "
        f"connections per worker {'/'.join(map(str, result.connections_per_worker)) or '?'}, "
        f"machine CPU busy {result.machine_cpu_busy or 0:.0%} "
        f"({result.bench_cpu_busy or 0:.0%} by the bench's processes)"
    )
    return result
