"""The deploy tests' process manager: what systemd does on a host, done with plain processes.

`web@<slot>` is gunicorn from the slot's release (its venv, its deploy/gunicorn.conf.py) on
`<run dir>/web-<slot>.sock`, as shipyard-web@.service starts it; `migrate@<slot>` runs the slot's
release's migrations. The releases of these tests share the suite's virtualenv, so the migration
runs in this process (the code `shipyard migrate` calls) and saves an interpreter start per deploy.
The worker and the scheduler are only recorded: they have their own tests, and a deploy restarts
them without waiting for anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from shipyard.kit.migrate import upgrade
from shipyard.release.layout import Releases
from shipyard.release.processes import ProcessError
from shipyard.settings import Settings


class GunicornSlots:
    """Starts and stops the web slots as processes; `env` is every instance's environment."""

    def __init__(self, releases: Releases, run_dir: Path, env: dict[str, str], socket_group: int | None) -> None:
        """`socket_group` becomes gunicorn's group, so Caddy (in that group) may use the sockets."""
        self.releases = releases
        self.run_dir = run_dir
        self.env = env
        self.socket_group = socket_group
        # Extra variables per release, to build a release that differs (a broken one).
        self.release_env: dict[str, dict[str, str]] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.restarted: list[str] = []

    def _release(self, slot: str) -> Path:
        return (self.releases.root / "slots" / slot).resolve()

    def start(self, unit: str) -> None:
        """Start gunicorn for `web@<slot>`; record any other unit."""
        kind, _, slot = unit.partition("@")
        if kind != "web":
            self.restarted.append(unit)
            return
        self.stop(unit)
        release = self._release(slot)
        env = {
            **self.env,
            "SHIPYARD_BIND": f"unix:{self.run_dir / f'web-{slot}.sock'}",
            "SHIPYARD_RELEASE": release.name,
            "PROMETHEUS_MULTIPROC_DIR": str(self.run_dir / f"prometheus-{slot}"),
            **self.release_env.get(release.name, {}),
        }
        log = (self.run_dir / f"web-{slot}.log").open("ab")
        with log:
            self.processes[unit] = subprocess.Popen(  # noqa: S603 - the release's own gunicorn
                [str(release / "venv/bin/gunicorn"), "--config", str(release / "deploy/gunicorn.conf.py")],
                cwd=release,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                group=self.socket_group,
            )

    def stop(self, unit: str, timeout: float = 40.0) -> None:
        """SIGTERM to the master (systemd's KillMode=mixed), wait, SIGKILL the group if it hangs."""
        proc = self.processes.pop(unit, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def run(self, unit: str) -> None:
        """`migrate@<slot>`: migrate to head as the slot's release would; ProcessError when it fails."""
        kind, _, _slot = unit.partition("@")
        if kind != "migrate":
            msg = f"no one-shot unit {unit}"
            raise ProcessError(msg)
        settings = Settings.model_validate(
            {"database_url": self.env["DATABASE_URL"], "data_dir": self.env["SHIPYARD_DATA_DIR"]}
        )
        try:
            upgrade(settings)
        except Exception as exc:
            raise ProcessError(str(exc).splitlines()[0]) from exc

    def close(self) -> None:
        """Stop everything still running."""
        for unit in list(self.processes):
            self.stop(unit)

    def pid(self, unit: str) -> int | None:
        """The master's PID while `unit` runs."""
        proc = self.processes.get(unit)
        return proc.pid if proc is not None and proc.poll() is None else None
