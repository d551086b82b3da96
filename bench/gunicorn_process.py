"""A gunicorn master started with deploy/gunicorn.conf.py, for the length of a `with` block."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Self

from procstat import children, tree_cpu_seconds

if TYPE_CHECKING:
    from types import TracebackType

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "deploy" / "gunicorn.conf.py"
WORKERS = 2  # unless the environment sets SHIPYARD_WEB_WORKERS (e.g. `--env SHIPYARD_WEB_WORKERS=1`)
START_TIMEOUT_S = 120.0
# graceful_timeout in the config is 25 s; an idle server stops in well under a second.
STOP_TIMEOUT_S = 30.0


class Gunicorn:
    """Runs `python -m gunicorn -c deploy/gunicorn.conf.py [ARGS]` in its own process group."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path, port: int, ready_path: str) -> None:
        self.command = [sys.executable, "-m", "gunicorn", "-c", str(CONFIG), *args]
        self.env = env
        self.log_path = log_path
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.ready_path = ready_path
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        """Start the master and wait until every worker is up and the app answers."""
        with self.log_path.open("wb") as log:
            # Own process group: a Ctrl-C in the terminal reaches only us, and we stop the server
            # ourselves, in order, instead of racing its shutdown against ours.
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=REPO, start_new_session=True
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Stop the server."""
        self.stop()

    def get(self, path: str, timeout: float = 5.0) -> str:
        """GET `path` and return the body; raises on a status >= 400."""
        with urllib.request.urlopen(self.base_url + path, timeout=timeout) as response:  # noqa: S310 - our own loopback URL
            return str(response.read().decode())

    def worker_pids(self) -> list[int]:
        """The PIDs of the master's children (the workers)."""
        return children(self.process.pid) if self.process is not None else []

    def cpu_seconds(self) -> float:
        """CPU used so far by the master and its workers."""
        return tree_cpu_seconds(self.process.pid) if self.process is not None else 0.0

    def _wait_ready(self) -> None:
        assert self.process is not None  # noqa: S101 - set by __enter__
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.process.returncode}; see {self.log_path}:\n{self._tail()}"
                )
            if len(self.worker_pids()) >= int(self.env.get("SHIPYARD_WEB_WORKERS", WORKERS)):
                with contextlib.suppress(OSError, urllib.error.URLError):
                    self.get(self.ready_path, timeout=2)
                    return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn not ready after {START_TIMEOUT_S:.0f} s; see {self.log_path}:\n{self._tail()}")

    def _tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM (graceful), then SIGKILL to the whole group if it lingers; idempotent."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT_S)
        # Workers orphaned by a killed master would keep the port and the database connections.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
