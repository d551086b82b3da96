"""`shipyard worker` and `shipyard scheduler` (composition layer): run the wired job runtime until SIGTERM or SIGINT.

The Typer commands are added to the main CLI by cli.py; `python -m shipyard.worker` runs them alone.
"""

from __future__ import annotations

import asyncio
import signal
from importlib.metadata import version

import typer
from prometheus_client import start_http_server

from shipyard.kit.db import create_database
from shipyard.kit.logging import configure_logging, get_logger
from shipyard.kit.sentry import configure_sentry
from shipyard.settings import LogFormat, Settings
from shipyard.worker.runtime import running
from shipyard.worker_wiring import WIRING

log = get_logger("shipyard.worker")


async def serve(settings: Settings, *, work: bool, schedule: bool) -> None:
    """Run jobs and/or the scheduler until the process is asked to stop."""
    settings.require_production_ready()
    configure_sentry(settings, release=version("shipyard"))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    database = create_database(settings)
    started, stopping = ("worker_started", "worker_stopping") if work else ("scheduler_started", "scheduler_stopping")
    try:
        async with running(settings, database, wiring=WIRING, work=work, schedule=schedule) as runtime:
            if settings.worker_metrics_port:
                start_http_server(settings.worker_metrics_port, addr="127.0.0.1", registry=runtime.metrics.registry)
            transport = "in-process (polls the database)" if runtime.local else "redis streams"
            log.info(started, transport=transport, concurrency=settings.jobs_concurrency)
            await stop.wait()
            log.info(stopping)
    finally:
        await database.dispose()


def run_worker(settings: Settings) -> None:
    """Blocking: a worker process. Run several, on several machines."""
    asyncio.run(serve(settings, work=True, schedule=False))


def run_scheduler(settings: Settings) -> None:
    """Blocking: a scheduler process. Start two for failover: one runs, the other waits."""
    asyncio.run(serve(settings, work=False, schedule=True))


def _settings() -> Settings:
    settings = Settings()
    configure_logging(json_lines=settings.log_format is LogFormat.JSON, level=settings.log_level)
    return settings


def worker() -> None:
    """Run background jobs: webhook deliveries, emails, the outbox relay. Run as many as you like."""
    run_worker(_settings())


def scheduler() -> None:
    """Run the periodic jobs. Exactly one instance is active; start a second one to take over on failure."""
    run_scheduler(_settings())


def add_commands(app: typer.Typer) -> None:
    """Register `worker` and `scheduler` on the `shipyard` command."""
    app.command("worker")(worker)
    app.command("scheduler")(scheduler)


app = typer.Typer(help="Shipyard background jobs.", no_args_is_help=True, pretty_exceptions_show_locals=False)
add_commands(app)
