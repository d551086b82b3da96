"""`make bench`: Shipyard under gunicorn on PostgreSQL, measured with wrk against a bare FastAPI ceiling.

Phases: a throwaway PostgreSQL; roles, schema and seed data; the hello-world ceiling; each Shipyard
route (read by ID, list of 100, invoice creation into one organisation and spread over eight), each
after its own ceiling run; webhook delivery throughput (bench/deliveries.py: `shipyard worker`
processes draining 10,000 events to a local receiver); the scale phase (bench/scale.py: lists,
filters, cursor pages and MCP aggregates of a small and a large tenant at 50k and 1M invoices); then
issue 17's targets as PASS, MISS or N/A (bench/targets.py), also written to bench/results/latest.json.
`--quick` (or BENCH_SCALE=quick) runs every phase small and short, as a smoke test.
Everything listens on 127.0.0.1, every step has a time limit, and everything started here is
stopped on the way out, on errors and Ctrl-C included.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))  # tests.fixtures.servers, the suite's throwaway PostgreSQL

import deliveries  # noqa: E402 - a sibling module of this script, importable once the path is set
import scale  # noqa: E402 - same
import seed  # noqa: E402 - same
import targets  # noqa: E402 - same
from gunicorn_process import Gunicorn  # noqa: E402 - same
from measuring import measure, phase, probe_for, run_wrk, split_for  # noqa: E402 - same
from profiling import profile_workers  # noqa: E402 - same
from report import Result, Route, judge, print_table  # noqa: E402 - same
from tests.fixtures.servers import PostgresServer, free_port  # noqa: E402 - needs the repo root on sys.path

RESULTS = BENCH / "results"

CEILING = Route("hello", "GET / (bare FastAPI, the ceiling)")
# Each route's target from issue 17's table; the creation spread is judged against the run into
# one organisation (bench/targets.py), so its row carries none.
ROUTES = (
    Route("read", "GET /api/v1/customers/{id}", min_ratio=targets.READ_MIN_RATIO, max_p99_ms=targets.READ_MAX_P99_MS),
    Route(
        "list", "GET /api/v1/customers?limit=100", min_ratio=targets.LIST_MIN_RATIO, max_p99_ms=targets.READ_MAX_P99_MS
    ),
    Route(
        "create",
        "POST …/invoices, one organisation",
        min_ratio=targets.CREATE_MIN_RATIO,
        max_p99_ms=targets.CREATE_MAX_P99_MS,
    ),
    Route("create-spread", "POST …/invoices, 8 organisations"),
)
# --quick: every phase, small and short; the verdicts are a smoke test, not a measurement.
QUICK = {
    "duration": 3.0,
    "warmup": 1.0,
    "customers": 2_000,
    "invoices": 5_000,
    "delivery_events": 500,
    "scale": 0.02,
    "scale_samples": 10,
}


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
        # The same for the per-token budget of expensive MCP tools (issue 17, a setting of its own):
        # the scale phase calls each aggregate a hundred times a minute from one token.
        SHIPYARD_MCP_EXPENSIVE_TOOL_BUDGET="1000000000",
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
    # Per organisation: as many invoices as its counter says, numbered 1..n without a gap.
    rows = postgres.psql(
        "SELECT o.invoice_seq, count(i.id), coalesce(max(i.number), 0) FROM organizations o"
        " LEFT JOIN invoices i ON i.organization_id = o.id GROUP BY o.id, o.invoice_seq;",
        dbname=seed.DATABASE,
    ).split()
    counters = [tuple(int(value) for value in row.split("|")) for row in rows]
    return {
        "access_log_lines": access_lines,
        "metrics_requests_observed": int(observed),
        "invoices_created": sum(count for _, count, _ in counters) - seeded.invoices,
        "invoice_numbers_sequential": all(seq == count == top for seq, count, top in counters),
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
        help="comma-separated subset of: read,list,create,create-spread (default: all)",
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
    parser.add_argument(
        "--scale",
        type=float,
        # BENCH_SCALE=0.1 from make: a tenth of the scale phase's rows; BENCH_SCALE=quick: --quick.
        default=float(os.environ.get("BENCH_SCALE", "1").replace("quick", "1")),
        help="the scale phase's large tenant, as a share of 1M invoices and 2M audit events (0 skips the phase)",
    )
    parser.add_argument("--scale-samples", type=int, default=30, help="timings of each request at each scale point")
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_SCALE") == "quick",
        help=f"a smoke test of every phase in a few minutes: {QUICK} (also BENCH_SCALE=quick)",
    )
    parser.add_argument("--time-limit", type=int, default=1500, help="abort the whole run after this many seconds")
    args = parser.parse_args()
    if args.quick:
        for name, value in QUICK.items():
            # Only what the command line left at its default: `--quick --duration 5` keeps the 5.
            if getattr(args, name) == parser.get_default(name):
                setattr(args, name, value)
    return args


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


def _wrk_arguments(work: Path, seeded: seed.Seeded) -> dict[str, list[str]]:
    """wrk.lua's arguments per mode: the busy organisation's customers, or a token and customer per line."""
    ids_file = work / "customer_ids.txt"
    ids_file.write_text("\n".join(seeded.customer_ids) + "\n", encoding="utf-8")
    spread_file = work / "spread_ids.txt"
    spread_file.write_text(
        "".join(f"{tenant.token} {cid}\n" for tenant in seeded.spread for cid in tenant.customer_ids[:200]),
        encoding="utf-8",
    )
    nonce = secrets.token_hex(4)  # a fresh Idempotency-Key space per run
    busy = [str(ids_file), seeded.token, nonce]
    return dict.fromkeys(("read", "list", "create"), busy) | {"create-spread": [str(spread_file), "-", nonce]}


def run_shipyard(
    args: argparse.Namespace, work: Path, postgres: PostgresServer, seeded: seed.Seeded, hello: Gunicorn
) -> tuple[list[Result], dict[str, Any]]:
    """Shipyard in production mode; each selected route after its own ceiling run, then the checks.

    Each route is compared with a ceiling measured right before it, not with one run at the start:
    on a shared machine the CPU a request costs drifts by a third within minutes, and a ratio of two
    runs minutes apart measured that drift as much as the code.
    """
    extra = _wrk_arguments(work, seeded)
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
                result = measure(url, route, args, extra[route.mode], probe_for(server, postgres), split_for(server))
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
                lambda: run_wrk(url, ROUTES[0], args, extra["read"], args.duration),
            )
            print(summary)
        phase("stopping Shipyard")
    return results, checks


def run_scale(args: argparse.Namespace, work: Path, postgres: PostgresServer) -> dict[str, Any] | None:
    """The scale phase (bench/scale.py) on its own database and its own Shipyard server."""
    if args.scale <= 0:
        return None
    port = free_port()

    def env_for(port: int, app_url: str) -> dict[str, str]:
        env = shipyard_env(os.environ.copy(), port=port, app_url=app_url, metrics_dir=work / "scale-metrics")
        env.update(args.env)
        return env

    (work / "scale-metrics").mkdir(exist_ok=True)
    sizes = scale.Sizes().scaled(args.scale)
    return scale.run(postgres, env_for, port, RESULTS / "shipyard-scale.log", sizes=sizes, samples=args.scale_samples)


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


def route_measurements(results: list[Result]) -> dict[str, dict[str, Any]]:
    """Each route's row by wrk mode, with the req/s of the ceiling run just before it."""
    by_label = {route.label: route.mode for route in ROUTES}
    measured = {}
    for ceiling, result in zip(results[::2], results[1::2], strict=True):
        measured[by_label[result.route]] = asdict(result) | {"ceiling_rps": ceiling.rps}
    return measured


def main() -> int:
    """Run every phase; exit 0 when the bench ran (whatever the verdicts), non-zero on a failure."""
    args = parse_args()
    stop_cleanly_within(args.time_limit)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    began = time.monotonic()
    load_before = os.getloadavg()
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shipyard-bench-")))
        phase("starting PostgreSQL on 127.0.0.1" + (" (quick mode: a smoke test, not a measurement)" * args.quick))
        postgres = stack.enter_context(PostgresServer())
        phase(
            f"PostgreSQL on port {postgres.port}; roles, migrations, seeding {args.customers} customers "
            f"and {args.invoices} invoices, and {seed.SPREAD_ORGANIZATIONS - 1} small organisations"
        )
        seeded = seed.prepare(postgres, customers=args.customers, invoices=args.invoices)
        hello = stack.enter_context(ceiling_server(work))
        results, checks = run_shipyard(args, work, postgres, seeded, hello)
        phase("stopping the hello-world ceiling")
        hello.stop()
        delivery = run_deliveries(args, postgres)
        scaled = run_scale(args, work, postgres)
        phase("stopping PostgreSQL")
    print_table(results)
    print_deliveries(delivery)
    scale.print_points(scaled)
    measurements = {"routes": route_measurements(results), "deliveries": delivery, "scale": scaled, "peer": None}
    verdicts = targets.evaluate(measurements)
    targets.print_verdicts(verdicts)
    run = {
        "mode": "quick" if args.quick else "full",
        "started_at": started.isoformat(),
        "seconds": round(time.monotonic() - began, 1),
        "git_commit": _git_commit(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_before": load_before,
            "load_after": os.getloadavg(),
        },
        "settings": {k: sorted(v) if isinstance(v, set) else v for k, v in vars(args).items() if k != "profile"},
        "runs": [asdict(r) for r in results],
    }
    report = targets.document(run=run, measurements=measurements, verdicts=verdicts, checks=checks)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    phase(f"results written to {(RESULTS / 'latest.json').relative_to(REPO)} after {run['seconds']:.0f} s")
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
