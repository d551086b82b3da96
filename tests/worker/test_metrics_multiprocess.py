"""Under gunicorn, a refreshed gauge reports the live processes' latest value, never a dead worker's."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, multiprocess

pytestmark = pytest.mark.database_independent

SET_BACKLOG = """
import sys
from shipyard.worker.metrics import JobMetrics
metrics = JobMetrics()
metrics.outbox_backlog.set(float(sys.argv[1]))
metrics.queue_depth.labels(queue="webhooks.deliver").set(float(sys.argv[1]))
"""


def _process_setting(backlog: int, directory: Path) -> int:
    """Run a process that sets the gauges to `backlog` in multiprocess mode and exits; its pid."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    process = subprocess.run(  # noqa: S603 - this interpreter and a fixed script
        [sys.executable, "-c", SET_BACKLOG, str(backlog)], env=env, check=True, capture_output=True
    )
    assert process.returncode == 0
    return _last_pid(directory)


def _last_pid(directory: Path) -> int:
    newest = max(directory.glob("gauge_*.db"), key=lambda path: path.stat().st_mtime_ns)
    return int(newest.stem.rsplit("_", 1)[1])


def test_a_dead_workers_backlog_does_not_stick(tmp_path: Path) -> None:
    dead = _process_setting(50, tmp_path)
    # gunicorn's child_exit hook (deploy/gunicorn.conf.py) does this when the worker dies.
    multiprocess.mark_process_dead(dead, str(tmp_path))  # type: ignore[no-untyped-call]  # untyped upstream
    _process_setting(3, tmp_path)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, str(tmp_path))  # type: ignore[no-untyped-call]  # untyped upstream
    assert registry.get_sample_value("shipyard_outbox_backlog") == 3
    assert registry.get_sample_value("shipyard_job_queue_depth", {"queue": "webhooks.deliver"}) == 3
