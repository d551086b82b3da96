"""What a deploy asks of the host's process manager, and the systemd implementation.

The interface is three verbs on named units, no more: the deploy logic (deploy.py) must run the
same against systemd in production and against plain processes in the tests, where systemd is not
PID 1. Units are `web@blue`, `web@green`, `worker`, `scheduler`; `migrate@<slot>` runs once.
"""

from __future__ import annotations

import subprocess
from typing import Protocol


class ProcessError(RuntimeError):
    """A unit did not start, stop or finish as asked."""


class ProcessManager(Protocol):
    """Start, stop and run units. `run` waits for a one-shot unit and raises ProcessError if it failed."""

    def start(self, unit: str) -> None:
        """Start (or restart) `unit`; return once it was launched, not once it is ready."""

    def stop(self, unit: str) -> None:
        """Stop `unit` gracefully and wait until it has exited."""

    def run(self, unit: str) -> None:
        """Run the one-shot `unit` to completion."""


class Systemd:
    """`systemctl` on the host: units are `shipyard-<unit>.service`."""

    def __init__(self, systemctl: str = "/usr/bin/systemctl", timeout_s: float = 600.0) -> None:
        """`timeout_s` bounds each systemctl call (a migration may take minutes)."""
        self.systemctl = systemctl
        self.timeout_s = timeout_s

    def _call(self, *args: str) -> None:
        result = subprocess.run(  # noqa: S603 - fixed binary, unit names built by deploy.py
            [self.systemctl, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=self.timeout_s,
        )
        if result.returncode != 0:
            msg = f"systemctl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            raise ProcessError(msg)

    def start(self, unit: str) -> None:
        """`systemctl restart` (a start of a stopped unit, a restart of a running one).

        A web slot is also enabled, so that a reboot starts the slot that serves (and, during a
        deploy, the new one, until the deploy stops one of them).
        """
        if unit.startswith("web@"):
            self._call("enable", f"shipyard-{unit}.service")
        self._call("restart", "--no-block", f"shipyard-{unit}.service")

    def stop(self, unit: str) -> None:
        """`systemctl stop` waits for the unit's stop job, within its TimeoutStopSec; a web slot is disabled too."""
        if unit.startswith("web@"):
            self._call("disable", "--now", f"shipyard-{unit}.service")
        else:
            self._call("stop", f"shipyard-{unit}.service")

    def run(self, unit: str) -> None:
        """A oneshot's `systemctl start` returns when it finished, non-zero when it failed."""
        self._call("start", f"shipyard-{unit}.service")
