"""Typer commands for `shipyard worker` and `shipyard scheduler` (added to the main CLI by cli.py)."""

from __future__ import annotations

import typer

from shipyard.kit.logging import configure_logging
from shipyard.settings import LogFormat, Settings


def _settings() -> Settings:
    settings = Settings()
    configure_logging(json_lines=settings.log_format is LogFormat.JSON, level=settings.log_level)
    return settings


def worker() -> None:
    """Run background jobs: webhook deliveries, emails, the outbox relay. Run as many as you like."""
    from shipyard.worker.main import run_worker

    run_worker(_settings())


def scheduler() -> None:
    """Run the periodic jobs. Exactly one instance is active; start a second one to take over on failure."""
    from shipyard.worker.main import run_scheduler

    run_scheduler(_settings())


def add_commands(app: typer.Typer) -> None:
    """Register `worker` and `scheduler` on the `shipyard` command."""
    app.command("worker")(worker)
    app.command("scheduler")(scheduler)


app = typer.Typer(help="Shipyard background jobs.", no_args_is_help=True, pretty_exceptions_show_locals=False)
add_commands(app)
