"""Webhook delivery throughput: N events, W `shipyard worker` processes on PostgreSQL, a local receiver.

Run alone (`python bench/deliveries.py --events 10000 --workers 4`) it starts its own PostgreSQL; from
bench/run.py call `measure(postgres_server, events=..., workers=...)` on the server it already has.
Every delivery is checked: each event reaches the receiver exactly once and no row is claimed twice.
Progress is printed every two seconds. Everything listens on 127.0.0.1 and stops by itself.
`--profile DIR` runs each worker under cProfile (bench/cpu_profile.py, CPU time) and prints where it went.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pstats
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO))  # tests.fixtures: the suite's throwaway servers, receiver and workers

from procstat import tree_cpu_seconds  # noqa: E402 - bench/ is on the path when run as a script or from run.py
from sqlalchemy import func, select  # noqa: E402 - after the path is set, like the rest
from tests.fixtures.receiver import Receiver  # noqa: E402
from tests.fixtures.servers import PostgresServer  # noqa: E402
from tests.fixtures.workers import Process, processes, start  # noqa: E402

# Installs every domain's scopes and event types (decision 0055): the events below need theirs.
import shipyard.domains  # noqa: E402, F401
from shipyard.events import service as event_service  # noqa: E402
from shipyard.identity import service as identity_service  # noqa: E402
from shipyard.identity.principal import Principal  # noqa: E402
from shipyard.identity.scopes import ROLE_SCOPES  # noqa: E402
from shipyard.kit.db import create_database  # noqa: E402
from shipyard.kit.migrate import upgrade  # noqa: E402
from shipyard.models import Role, WebhookAttempt, WebhookDelivery  # noqa: E402
from shipyard.settings import Settings  # noqa: E402
from shipyard.webhooks import service as webhook_service  # noqa: E402
from shipyard.webhooks.schemas import WebhookEndpointCreate  # noqa: E402
from shipyard.webhooks.service import WebhookConfig  # noqa: E402

SQL_DIR = REPO / "deploy" / "postgres"
DATABASE = "shipyard_deliveries"
SEED_BATCH = 1000
TIME_LIMIT_S = 600


def phase(message: str) -> None:
    """A timestamped progress line."""
    print(f"[deliveries {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def _settings(postgres: PostgresServer, work: Path, *, concurrency: int) -> Settings:
    return Settings.model_validate(
        {
            "env": "test",
            "data_dir": work,
            "database_url": postgres.dsn(DATABASE, user="shipyard_app"),
            "migration_database_url": postgres.dsn(DATABASE, user="shipyard_migrator"),
            "webhook_allowed_networks": ["127.0.0.0/8"],
            "jobs_concurrency": concurrency,
            "jobs_poll_interval_s": 0.1,
            "db_pool_size": 5,
            "log_level": "WARNING",
        }
    )


def _prepare_database(postgres: PostgresServer, settings: Settings) -> None:
    # bench/run.py's server already has the roles (and its own `shipyard` database); a fresh one does not.
    if not postgres.psql("SELECT 1 FROM pg_roles WHERE rolname = 'shipyard_app'").strip():
        postgres.psql((SQL_DIR / "01-roles.sql").read_text(encoding="utf-8"))
    postgres.psql(f"CREATE DATABASE {DATABASE} OWNER shipyard_migrator")
    postgres.psql((SQL_DIR / "02-grants.sql").read_text(encoding="utf-8"), dbname=DATABASE)
    upgrade(settings)


async def _seed(settings: Settings, url: str, events: int) -> None:
    database = create_database(settings)
    try:
        async with database.writer() as session:
            user = await identity_service.get_or_create_user(session, "owner@bench.example")
            organization = await identity_service.create_organization(session, "Bench", slug="bench-deliveries")
            await identity_service.add_member(session, organization, user, Role.OWNER)
            owner = Principal(organization.id, user.id, Role.OWNER, ROLE_SCOPES[Role.OWNER])
            await webhook_service.create(
                session, owner, WebhookEndpointCreate(url=url, event_types=["*"]), WebhookConfig.from_settings(settings)
            )
            await session.commit()
        for first in range(0, events, SEED_BATCH):
            async with database.writer() as session:
                for n in range(first, min(events, first + SEED_BATCH)):
                    await event_service.emit(session, owner, "customer.updated", {"n": n})
                await session.commit()
    finally:
        await database.dispose()


async def _count_done(settings: Settings) -> tuple[int, int, Counter[int]]:
    database = create_database(settings)
    try:
        async with database.reader() as session:
            done = await session.scalar(select(func.count()).where(WebhookDelivery.status == "succeeded"))
            attempts = await session.scalar(select(func.count()).select_from(WebhookAttempt))
            claims = Counter(await session.scalars(select(WebhookDelivery.attempts)))
    finally:
        await database.dispose()
    return int(done or 0), int(attempts or 0), claims


def _profiled(profile_dir: Path | None, worker: int) -> tuple[str, ...]:
    """The interpreter arguments that write worker `worker`'s profile into `profile_dir` (none without one)."""
    return () if profile_dir is None else (str(BENCH / "cpu_profile.py"), str(profile_dir / f"worker-{worker}.prof"))


def print_profile(profile_dir: Path, deliveries: int, top: int = 25) -> None:
    """The functions the workers spent most time in (their own time, all workers together), per delivery."""
    files = sorted(str(path) for path in profile_dir.glob("worker-*.prof"))
    if not files:
        phase(f"no profiles in {profile_dir}")
        return
    stats = pstats.Stats(*files)
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)  # type: ignore[attr-defined]
    total = sum(row[2] for _, row in rows)
    phase(f"profile of {len(files)} workers: {total * 1000 / deliveries:.2f} ms of worker CPU per delivery")
    for (filename, line, function), (_, calls, own, cumulative, _) in rows[:top]:
        where = f"{Path(filename).name}:{line}({function})" if line else function
        print(
            f"  {own * 1000 / deliveries:6.3f} ms own  {cumulative * 1000 / deliveries:7.3f} ms cum"
            f"  {calls / deliveries:6.1f} calls  {where}"
        )


def _cpu_seconds(workers: list[Process], postgres: PostgresServer) -> tuple[float, float, float]:
    """CPU used so far by the workers, by PostgreSQL, and by this process (the receiver, mostly)."""
    return (
        sum(tree_cpu_seconds(worker.popen.pid) for worker in workers),
        tree_cpu_seconds(postgres.pid),
        time.process_time(),
    )


async def _run(
    postgres: PostgresServer,
    work: Path,
    *,
    events: int,
    workers: int,
    concurrency: int,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    settings = _settings(postgres, work, concurrency=concurrency)
    async with Receiver() as receiver:
        phase(f"seeding {events} events for one endpoint at {receiver.url}")
        await _seed(settings, receiver.url, events)
        with processes(settings, work) as started:
            phase(f"starting {workers} workers")
            began = time.monotonic()
            # Together: started one by one, the first would drain part of the outbox before the last runs.
            await asyncio.gather(
                *(
                    start(started, "worker", settings, work, python_args=_profiled(profile_dir, n))
                    for n in range(workers)
                )
            )
            # From here on, the workers' CPU is delivery work (their imports and start-up are behind them).
            cpu_before = _cpu_seconds(started, postgres)
            done = 0
            while done < events:
                await asyncio.sleep(2)
                done, _, _ = await _count_done(settings)
                elapsed = time.monotonic() - began
                phase(f"{done}/{events} delivered, {done / elapsed:.0f}/s")
                if elapsed > TIME_LIMIT_S:
                    msg = f"only {done} of {events} delivered in {TIME_LIMIT_S} s"
                    raise RuntimeError(msg)
            elapsed = time.monotonic() - began
            cpu_used = [
                after - before for after, before in zip(_cpu_seconds(started, postgres), cpu_before, strict=True)
            ]
        done, attempts, claims = await _count_done(settings)
        seen = Counter(request.webhook_id for request in receiver.requests)
        arrivals = [request.at for request in receiver.requests]
    # The rate is timed as the receiver saw it, first request to last: process start-up (seconds of
    # imports on a busy machine) and the 2 s progress polling are not delivery work.
    receiving = max(arrivals) - min(arrivals) if len(arrivals) > 1 else elapsed
    result = {
        "events": events,
        "workers": workers,
        "concurrency_per_worker": concurrency,
        "seconds": round(receiving, 2),
        "seconds_from_start": round(elapsed, 2),
        "deliveries_per_s": round(events / receiving, 1) if receiving else None,
        "received_once_each": len(seen) == events and set(seen.values()) == {1},
        "claimed_once_each": dict(claims) == {1: events} and attempts == events,
        # CPU per delivery moves far less than deliveries/s on a shared machine: compare versions with it.
        # The receiver's figure includes this process's progress queries (one every 2 s).
        "cpu_ms_per_delivery": {
            name: round(seconds * 1000 / events, 2)
            for name, seconds in zip(("workers", "postgres", "receiver"), cpu_used, strict=True)
        },
    }
    phase(json.dumps(result))
    return result


def measure(
    postgres: PostgresServer,
    *,
    events: int = 10_000,
    workers: int = 4,
    concurrency: int = 32,
    profile_dir: Path | None = None,
) -> dict[str, Any]:
    """Measure on an already running PostgreSQL (bench/run.py's); returns the result row."""
    with tempfile.TemporaryDirectory(prefix="shipyard-deliveries-") as work:
        phase("roles, migrations")
        _prepare_database(postgres, _settings(postgres, Path(work), concurrency=concurrency))
        result = asyncio.run(
            _run(
                postgres,
                Path(work),
                events=events,
                workers=workers,
                concurrency=concurrency,
                profile_dir=profile_dir,
            )
        )
    if profile_dir is not None:
        print_profile(profile_dir, events)
    return result


def main() -> int:
    """Standalone: start PostgreSQL, measure, print the result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32, help="jobs at once per worker")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="run the workers under cProfile, profiles here")
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    with PostgresServer() as postgres:
        result = measure(
            postgres,
            events=args.events,
            workers=args.workers,
            concurrency=args.concurrency,
            profile_dir=args.profile,
        )
    print(json.dumps(result, indent=2))
    return 0 if result["received_once_each"] and result["claimed_once_each"] else 1


if __name__ == "__main__":
    sys.exit(main())
