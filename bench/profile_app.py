"""CPU per request of the app itself, in one process, without gunicorn, uvicorn or wrk.

`make bench` measures the whole stack on a shared machine, where req/s swings with whatever else
runs. This script drives the ASGI app directly (production settings, JSON access log, multiprocess
metrics, the bench's seeded PostgreSQL) with a fixed concurrency and reports the process CPU time
per request: a far steadier number to compare two versions of the code with. `--cprofile` adds the
top functions by own time; `--pool-stats` counts the connections PostgreSQL opened.

    .venv/bin/python bench/profile_app.py --routes read,list,create --requests 3000
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
NOT_2XX = 300
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(BENCH))

import seed  # noqa: E402 - a sibling module, importable once the path is set
from procstat import tree_cpu_seconds  # noqa: E402 - same
from profiling import summarise  # noqa: E402 - same
from tests.fixtures.servers import PostgresServer  # noqa: E402 - needs the repo root on sys.path


def _scope(method: str, path: str, query: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _call(app: Any, scope: dict[str, Any], body: bytes) -> int:  # noqa: ANN401 - any ASGI app
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def _request_factory(mode: str, seeded: seed.Seeded) -> Any:  # noqa: ANN401 - a closure
    auth = [(b"host", b"127.0.0.1:8000"), (b"authorization", f"Bearer {seeded.token}".encode())]
    rng = random.Random(7)  # noqa: S311 - load generation, not a secret
    ids = seeded.customer_ids
    invoice = json.dumps(
        {"currency": "EUR", "line_items": [{"description": "Bench", "quantity": 2, "unit_amount": 1250}]}
    ).encode()

    def make() -> tuple[dict[str, Any], bytes]:
        if mode == "read":
            return _scope("GET", f"/api/v1/customers/{rng.choice(ids)}", "", auth), b""
        if mode == "list":
            return _scope("GET", "/api/v1/customers", "limit=100", auth), b""
        headers = [
            *auth,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(invoice)).encode()),
            (b"idempotency-key", secrets.token_hex(16).encode()),
        ]
        return _scope("POST", f"/api/v1/customers/{rng.choice(ids)}/invoices", "", headers), invoice

    return make


async def _drive(app: Any, mode: str, seeded: seed.Seeded, requests: int, concurrency: int) -> list[int]:  # noqa: ANN401
    make = _request_factory(mode, seeded)
    statuses: list[int] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            scope, body = make()
            statuses.append(await _call(app, scope, body))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


async def _run(args: argparse.Namespace, seeded: seed.Seeded, postgres: PostgresServer) -> None:
    from tests.fixtures.lifespan import running_lifespan

    from shipyard.app import create_app
    from shipyard.kit.logging import configure_logging
    from shipyard.settings import Settings

    settings = Settings()
    sink = Path(args.log).open("w", encoding="utf-8")  # noqa: SIM115, ASYNC230 - opened once, before any load
    configure_logging(json_lines=True, level=settings.log_level, stream=sink)
    app = create_app(settings)
    async with running_lifespan(app):
        for mode in args.routes:
            await _drive(app, mode, seeded, args.warmup, args.concurrency)
            if args.statements:
                await _print_statements(app, mode, seeded)
            sessions_before = _sessions(postgres)
            # CPU time, not wall time: on a shared machine, time spent descheduled is not ours.
            profiler = cProfile.Profile(time.process_time) if args.cprofile else None
            db_cpu = tree_cpu_seconds(postgres.pid)
            cpu, wall = time.process_time(), time.perf_counter()
            spy = _start_py_spy(args.py_spy, mode) if args.py_spy else None
            if profiler:
                profiler.enable()
            statuses = await _drive(app, mode, seeded, args.requests, args.concurrency)
            if profiler:
                profiler.disable()
            if spy:
                spy.send_signal(signal.SIGINT)
                spy.wait(timeout=60)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            db_cpu = tree_cpu_seconds(postgres.pid) - db_cpu
            opened = _sessions(postgres) - sessions_before
            bad = sorted({s for s in statuses if s >= NOT_2XX})
            print(
                f"{mode:7s} {len(statuses) / wall:8.0f} req/s in-process  "
                f"{cpu * 1000 / len(statuses):6.3f} ms app + {db_cpu * 1000 / len(statuses):5.3f} ms db CPU/request  "
                f"non-2xx {sum(s >= NOT_2XX for s in statuses)} {bad}  new PG sessions {opened}",
                flush=True,
            )
            if spy:
                print(summarise((RESULTS / f"profile-app-{mode}.collapsed.txt").read_text(encoding="utf-8")))
            if profiler:
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(args.cprofile).print_stats(args.top)
                print(out.getvalue())


async def _print_statements(app: Any, mode: str, seeded: seed.Seeded) -> None:  # noqa: ANN401 - any ASGI app
    """The SQL statements one request of `mode` sends, in order: what a round trip costs is paid per line."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    sent: list[str] = []

    def grab(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        sent.append(" ".join(statement.split())[:160])

    event.listen(Engine, "before_cursor_execute", grab)
    try:
        await _drive(app, mode, seeded, 1, 1)
    finally:
        event.remove(Engine, "before_cursor_execute", grab)
    print(f"{mode}: {len(sent)} statements")
    for number, statement in enumerate(sent, 1):
        print(f"  {number:2d}. {statement}")


def _start_py_spy(py_spy: str, mode: str) -> subprocess.Popen[bytes]:
    """py-spy on this very process until SIGINT; raw (collapsed) stacks of the running thread only."""
    RESULTS.mkdir(exist_ok=True)
    output = RESULTS / f"profile-app-{mode}.collapsed.txt"
    command = [py_spy, "record", "--pid", str(os.getpid()), "--rate", "250", "--gil", "--format", "raw"]
    spy = subprocess.Popen([*command, "--output", str(output)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    return spy


def _sessions(postgres: PostgresServer) -> int:
    out = postgres.psql("SELECT sessions FROM pg_stat_database WHERE datname = 'shipyard';")
    return int(out.strip() or 0)


def main() -> None:
    """Seed a throwaway PostgreSQL and measure the selected routes in-process."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routes", type=lambda t: t.split(","), default=["read", "list", "create"])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=50_000)
    parser.add_argument("--cprofile", metavar="SORT", help="profile the measured run, sorted by e.g. tottime")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--statements", action="store_true", help="print the SQL one request of each route sends")
    parser.add_argument("--py-spy", metavar="PY_SPY", help="sample the measured run with this py-spy binary")
    parser.add_argument("--log", default=os.devnull, help="where the app's log lines go")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="an extra setting")
    args = parser.parse_args()
    with PostgresServer() as postgres, tempfile.TemporaryDirectory(prefix="shipyard-profile-") as work:
        seeded = seed.prepare(postgres, customers=args.customers, invoices=args.invoices)
        metrics = Path(work) / "metrics"
        metrics.mkdir()
        os.environ.update(
            SHIPYARD_ENV="production",
            SHIPYARD_SECRET_KEY=secrets.token_urlsafe(48),
            DATABASE_URL=seeded.app_url,
            # Production refuses to start without it; the requests here never leave the process.
            SHIPYARD_PUBLIC_URL="http://127.0.0.1",
            # As bench/run.py: the quotas stay on, far above what one token sends here.
            SHIPYARD_API_RATE_LIMIT_READS="1000000000",
            SHIPYARD_API_RATE_LIMIT_WRITES="1000000000",
            SHIPYARD_LOG_FORMAT="json",
            SHIPYARD_ACCESS_LOG="true",
            SHIPYARD_METRICS_ENABLED="true",
            PROMETHEUS_MULTIPROC_DIR=str(metrics),
            SHIPYARD_DATA_DIR=work,
            SHIPYARD_JOBS_EMBEDDED="false",  # as bench/run.py: jobs belong to their own processes
        )
        os.environ.update(dict(item.split("=", 1) for item in args.env))
        try:
            import uvloop

            uvloop.run(_run(args, seeded, postgres))
        except ImportError:
            asyncio.run(_run(args, seeded, postgres))


if __name__ == "__main__":
    main()
