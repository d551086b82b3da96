"""`python -m shipyard.worker`: the commands exist, and a worker stops cleanly on SIGTERM."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from shipyard.settings import Settings
from shipyard.worker_cli import app as worker_cli
from tests.fixtures.jobs import fast
from tests.fixtures.workers import processes, start


def test_the_module_offers_worker_and_scheduler() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "shipyard.worker", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "worker" in result.stdout
    assert "scheduler" in result.stdout
    assert {command.name for command in worker_cli.registered_commands} == {"worker", "scheduler"}


async def test_a_worker_and_a_scheduler_stop_cleanly_on_sigterm(settings: Settings, tmp_path: Path) -> None:
    s = fast(settings)
    with processes(s, tmp_path) as started:
        worker = await start(started, "worker", s, tmp_path)
        scheduler = await start(started, "scheduler", s, tmp_path)
        assert worker.stop() == 0
        assert scheduler.stop() == 0
    assert "worker_stopping" in worker.log
    assert "scheduler_stopping" in scheduler.log
    assert "in-process" in worker.log  # no REDIS_URL: the worker polls the database itself
    assert "Traceback" not in worker.log + scheduler.log
