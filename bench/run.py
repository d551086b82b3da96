"""`make bench`: Shipyard under gunicorn on PostgreSQL, measured with wrk against a bare FastAPI ceiling.

Phases: a throwaway PostgreSQL; roles, schema and seed data; the hello-world ceiling; each Shipyard
route; webhook delivery throughput (bench/deliveries.py: `shipyard worker` processes draining
10,000 events to a local receiver); then a table with the issue's targets, also written to
bench/results/latest.json.
Everything listens on 127.0.0.1, every step has a time limit, and everything started here is
stopped on the way out, on errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))  # tests.fixtures.servers, the suite's throwaway PostgreSQL

import deliveries  # noqa: E402 - a sibling module of this script, importable once the path is set
import seed  # noqa: E402 - same
from gunicorn_process import Gunicorn  # noqa: E402 - same
from procstat import connections_per_process, tree_cpu_seconds  # noqa: E402 - same
from profiling import profile_workers  # noqa: E402 - same
from report import Result, Route, judge, print_table  # noqa: E402 - same
from tests.fixtures.servers import PostgresServer, free_port  # noqa: E402 - needs the repo root on sys.path

RESULTS = BENCH / "results"
WRK_SCRIPT = BENCH / "wrk.lua"


CEILING = Route("hello", "GET / (bare FastAPI, the ceiling)")
ROUTES = (
    Route("read", "GET /api/v1/customers/{id}", min_ratio=0.15, max_p99_ms=30.0),
    Route("list", "GET /api/v1/customers?limit=100", min_ratio=0.05),
    Route("create", "POST /api/v1/customers/{id}/invoices"),
)


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
    connections: list[int] = []
    result = run_wrk(url, route, args, extra, args.duration, (lambda: connections.extend(split())) if split else None)
    result.connections_per_worker = connections
    app_after, db_after, sessions_after, open_after = probe()
    # Less the probe's own psql session, which the second count includes.
    result.db_sessions_opened = max(0, sessions_after - sessions_before - 1)
    # A pool that grew to the concurrency it met opened sessions that are still open: not churn.
    result.db_sessions_closed = max(0, result.db_sessions_opened - (open_after - open_before))
    if result.requests:
        result.app_cpu_ms = (app_after - app_before) * 1000 / result.requests
        result.db_cpu_ms = (db_after - db_before) * 1000 / result.requests
    phase(
        f"  {result.rps:,.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
        f"CPU/request {result.app_cpu_ms:.2f} ms app + {result.db_cpu_ms:.2f} ms db "
        f"+ {result.client_cpu_ms:.2f} ms wrk, "
        f"non-2xx {result.non_2xx}, socket errors {result.socket_errors}, "
        f"new PostgreSQL sessions {result.db_sessions_opened} ({result.db_sessions_closed} of them closed), "
        f"connections per worker {'/'.join(map(str, result.connections_per_worker)) or '?'}"
    )
    return result


def shipyard_env(base: dict[str, str], *, port: int, app_url: str, metrics_dir: Path) -> dict[str, str]:
    """Production settings on loopback TCP, with JSON access logs and multiprocess metrics."""
    env = {
        key: value
        for key, value in base.items()
        if not key.startswith(("SHIPYARD_", "PG", "PROMETHEUS_")) and key not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        SHIPYARD_ENV="production",
        SHIPYARD_SECRET_KEY=secrets.token_urlsafe(48),
        DATABASE_URL=app_url,
        # Production refuses to start without it; the bench's clients call the loopback address.
        SHIPYARD_PUBLIC_URL=f"http://127.0.0.1:{port}",
        SHIPYARD_BIND=f"127.0.0.1:{port}",
        # The per-token quotas stay on (their cost is part of every request) but far above what one
        # token sends here: the bench measures the routes, not 429s.
        SHIPYARD_API_RATE_LIMIT_READS="1000000000",
        SHIPYARD_API_RATE_LIMIT_WRITES="1000000000",
        SHIPYARD_WEB_WORKERS="2",
        SHIPYARD_LOG_FORMAT="json",
        SHIPYARD_ACCESS_LOG="true",
        SHIPYARD_METRICS_ENABLED="true",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        # As in production, where `shipyard worker` and `shipyard scheduler` run the jobs in their own
        # processes: without Redis the web workers would otherwise run them in-process, and the
        # reminders job would start on the seed's overdue invoices in the middle of a measurement.
        SHIPYARD_JOBS_EMBEDDED="false",
    )
    return env


def check_side_effects(log_path: Path, metrics: str, postgres: PostgresServer, seeded: seed.Seeded) -> dict[str, Any]:
    """Evidence that logging and metrics were on, and that the POSTs really wrote sequential invoices."""
    access_lines = 0
    with log_path.open(encoding="utf-8", errors="replace") as log:
        for line in log:
            # The app's lines are JSON objects; gunicorn's own start-up lines are not.
            if line.startswith("{"):
                access_lines += json.loads(line).get("event") == "request"
    observed = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("http_request_duration_seconds_count{")
    )
    count, top, seq = (
        postgres.psql(
            "SELECT count(*), max(number), (SELECT invoice_seq FROM organizations) FROM invoices;", dbname=seed.DATABASE
        )
        .strip()
        .split("|")
    )
    return {
        "access_log_lines": access_lines,
        "metrics_requests_observed": int(observed),
        "invoices_created": int(count) - seeded.invoices,
        "invoice_numbers_sequential": int(count) == int(top) == int(seq),
    }


def parse_args() -> argparse.Namespace:
    """Command-line options; the defaults are what the issue specifies."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per route")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per route")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument(
        "--profile",
        metavar="PY_SPY",
        help="after measuring, profile the workers with this py-spy binary during a GET-by-ID run",
    )
    parser.add_argument(
        "--routes",
        type=lambda text: set(text.split(",")),
        default={route.mode for route in ROUTES},
        help="comma-separated subset of: read,list,create (default: all)",
    )
    parser.add_argument(
        "--env",
        type=lambda text: tuple(text.split("=", 1)),
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra setting for the Shipyard server, to try a change (e.g. SHIPYARD_DB_POOL_SIZE=20)",
    )
    parser.add_argument(
        "--delivery-events",
        type=int,
        default=10_000,
        help="events for the webhook delivery phase (0 skips it)",
    )
    parser.add_argument("--delivery-workers", type=int, default=4, help="`shipyard worker` processes for it")
    parser.add_argument("--time-limit", type=int, default=1500, help="abort the whole run after this many seconds")
    return parser.parse_args()


def _interrupt(signum: int, _frame: object) -> NoReturn:
    # SIGTERM and the overall alarm unwind like Ctrl-C, so every `finally` stops what it started.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_cleanly_within(time_limit_s: int) -> None:
    """Ctrl-C, SIGTERM and the overall alarm all unwind as KeyboardInterrupt, so every `finally` runs."""
    # A shell without job control starts background commands with SIGINT ignored; the bench must
    # still stop cleanly on it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGALRM, _interrupt)
    signal.alarm(time_limit_s)


def ceiling_server(work: Path) -> Gunicorn:
    """The bare FastAPI app under the same gunicorn settings: the ceiling every ratio refers to."""
    port = free_port()
    env = shipyard_env(os.environ.copy(), port=port, app_url="", metrics_dir=work / "hello-metrics")
    phase(f"starting the hello-world ceiling under gunicorn on 127.0.0.1:{port} (it idles between its runs)")
    return Gunicorn(["--pythonpath", str(BENCH), "hello:app"], env, RESULTS / "hello.log", port, "/")


def measure_ceiling(hello: Gunicorn, args: argparse.Namespace, postgres: PostgresServer) -> Result:
    """One run of the ceiling, just before the route it is compared with."""
    ceiling = measure(hello.base_url, CEILING, args, [], probe_for(hello, postgres), split_for(hello))
    ceiling.ratio = ceiling.cpu_ratio = 1.0
    return ceiling


def run_shipyard(
    args: argparse.Namespace, work: Path, postgres: PostgresServer, seeded: seed.Seeded, hello: Gunicorn
) -> tuple[list[Result], dict[str, Any]]:
    """Shipyard in production mode; each selected route after its own ceiling run, then the checks.

    Each route is compared with a ceiling measured right before it, not with one run at the start:
    on a shared machine the CPU a request costs drifts by a third within minutes, and a ratio of two
    runs minutes apart measured that drift as much as the code.
    """
    ids_file = work / "customer_ids.txt"
    ids_file.write_text("\n".join(seeded.customer_ids) + "\n", encoding="utf-8")
    extra = [str(ids_file), seeded.token, secrets.token_hex(4)]
    port = free_port()
    env = shipyard_env(os.environ.copy(), port=port, app_url=seeded.app_url, metrics_dir=work / "metrics")
    env.update(args.env)
    log_path = RESULTS / "shipyard.log"
    url = f"http://127.0.0.1:{port}"
    results = []
    phase(f"starting Shipyard under gunicorn on 127.0.0.1:{port} (log: {log_path.relative_to(REPO)})")
    with Gunicorn([], env, log_path, port, "/ready") as server:
        for route in ROUTES:
            if route.mode in args.routes:
                ceiling = measure_ceiling(hello, args, postgres)
                result = measure(url, route, args, extra, probe_for(server, postgres), split_for(server))
                judge(result, route, ceiling)
                results += [ceiling, result]
        checks = check_side_effects(log_path, server.get("/metrics"), postgres, seeded)
        phase(f"checks: {checks}")
        if args.profile:
            phase(f"profiling the workers during GET by ID ({args.duration:.0f} s; these numbers are not reported)")
            summary = profile_workers(
                args.profile,
                server.worker_pids(),
                RESULTS / "profile-read",
                args.duration,
                lambda: run_wrk(url, ROUTES[0], args, extra, args.duration),
            )
            print(summary)
        phase("stopping Shipyard")
    return results, checks


def run_deliveries(args: argparse.Namespace, postgres: PostgresServer) -> dict[str, Any] | None:
    """Webhook deliveries per second: worker processes drain the outbox to a receiver on loopback."""
    if args.delivery_events <= 0:
        return None
    phase(f"webhook deliveries: {args.delivery_events} events, {args.delivery_workers} workers (bench/deliveries.py)")
    result = deliveries.measure(postgres, events=args.delivery_events, workers=args.delivery_workers)
    if not (result["received_once_each"] and result["claimed_once_each"]):
        # Not a throughput figure if work was duplicated or lost.
        msg = f"the delivery run lost or duplicated work: {result}"
        raise RuntimeError(msg)
    return result


def print_deliveries(result: dict[str, Any] | None) -> None:
    """One line under the table."""
    if result is None:
        return
    print(
        f"webhook deliveries: {result['deliveries_per_s']:,.0f}/s ({result['events']:,} events in "
        f"{result['seconds']:.1f} s, {result['workers']} workers x {result['concurrency_per_worker']} jobs, "
        "each event received once, each row claimed once)"
    )
    print()


def main() -> int:
    """Run every phase; exit 0 when the bench ran (whatever the verdicts), non-zero on a failure."""
    args = parse_args()
    stop_cleanly_within(args.time_limit)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shipyard-bench-")))
        phase("starting PostgreSQL on 127.0.0.1")
        postgres = stack.enter_context(PostgresServer())
        phase(
            f"PostgreSQL on port {postgres.port}; roles, migrations, seeding {args.customers} customers "
            f"and {args.invoices} invoices"
        )
        seeded = seed.prepare(postgres, customers=args.customers, invoices=args.invoices)
        hello = stack.enter_context(ceiling_server(work))
        results, checks = run_shipyard(args, work, postgres, seeded, hello)
        phase("stopping the hello-world ceiling")
        hello.stop()
        delivery = run_deliveries(args, postgres)
        phase("stopping PostgreSQL")
    print_table(results)
    print_deliveries(delivery)
    report = {
        "started_at": started.isoformat(),
        "git_commit": _git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": load_before,
            "load_after": os.getloadavg(),
        },
        "settings": {k: sorted(v) if isinstance(v, set) else v for k, v in vars(args).items() if k != "profile"},
        "checks": checks,
        "results": [asdict(r) for r in results],
        "deliveries": delivery,
    }
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    phase(f"results written to {(RESULTS / 'latest.json').relative_to(REPO)}")
    return 0


def _git_commit() -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        )
        return out.stdout.strip() or None
    return None


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt as exc:
        print(f"\nbench interrupted ({str(exc) or 'Ctrl-C'}); everything it started has been stopped", file=sys.stderr)
        sys.exit(130)
