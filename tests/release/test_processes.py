"""The systemd process manager: the systemctl calls a deploy makes (systemctl itself is the outside world here)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipyard.release.processes import ProcessError, Systemd

pytestmark = pytest.mark.database_independent


def _systemctl(tmp_path: Path, exit_code: int = 0) -> tuple[Systemd, Path]:
    calls = tmp_path / "calls"
    script = tmp_path / "systemctl"
    script.write_text(f'#!/bin/sh\necho "$*" >> {calls}\necho "unit failed" >&2\nexit {exit_code}\n')
    script.chmod(0o755)
    return Systemd(systemctl=str(script), timeout_s=10), calls


def test_web_slots_are_enabled_when_started_and_disabled_when_stopped(tmp_path: Path) -> None:
    systemd, calls = _systemctl(tmp_path)
    systemd.run("migrate@green")
    systemd.start("web@green")
    systemd.stop("web@blue")
    systemd.start("worker")
    systemd.stop("scheduler")
    assert calls.read_text().splitlines() == [
        "start shipyard-migrate@green.service",
        "enable shipyard-web@green.service",
        "restart --no-block shipyard-web@green.service",
        "disable --now shipyard-web@blue.service",
        "restart --no-block shipyard-worker.service",
        "stop shipyard-scheduler.service",
    ]


def test_a_failing_systemctl_raises_with_its_message(tmp_path: Path) -> None:
    systemd, _calls = _systemctl(tmp_path, exit_code=1)
    expected = re.escape("systemctl start shipyard-migrate@blue.service failed (1): unit failed")
    with pytest.raises(ProcessError, match=expected):
        systemd.run("migrate@blue")
