"""The single-host zero-downtime deploy: migrate, start beside, health-check, switch Caddy, drain, stop.

1. `migrate@<slot>` runs the new release's migrations once, as the migration role. A failure stops
   here: nothing was started or switched, the old release keeps serving.
2. The idle slot's link names the new release and `web@<slot>` starts on its own socket.
3. `/ready` must answer 200 through that socket within `ready_timeout_s`; if not, the new instance
   is stopped and the deploy fails. Caddy never sent it a request.
4. The link Caddy dials (`<root>/web.sock`) is renamed onto the new socket: every connection Caddy
   opens from then on reaches the new release (it opens one per request); `live`, `current` and
   `previous` follow. Caddy's config never changes, so no client connection to Caddy is touched
   (docs/decisions/0045).
5. After `drain_s` (requests Caddy had already sent finish), the old instance gets SIGTERM through
   its unit: gunicorn stops accepting and gives its requests in flight `graceful_timeout` to end.
6. The worker and the scheduler restart on the new release (the outbox hands any work they held
   to the next worker), and releases beyond `keep` are pruned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx2

from shipyard.release.layout import Releases
from shipyard.release.processes import ProcessError, ProcessManager

BACKGROUND_UNITS = ("worker", "scheduler")
_READY_POLL_S = 0.2


class DeployError(RuntimeError):
    """The deploy stopped; `stage` says where, and the old release is still the one serving."""

    def __init__(self, stage: str, message: str) -> None:
        """`stage`: `migrate`, `start` or `ready`."""
        super().__init__(message)
        self.stage = stage


@dataclass
class Deployer:
    """Everything a deploy on one host needs; the CLI builds one from its flags."""

    releases: Releases
    processes: ProcessManager
    run_dir: Path = Path("/run/shipyard")
    keep: int = 3
    ready_timeout_s: float = 60.0
    drain_s: float = 5.0
    # Tests pass their own clock to record when each step ran (the load report's events).
    on_step: Callable[[str], None] = field(default=lambda _step: None)

    def socket(self, slot: str) -> Path:
        """Where `web@<slot>` listens (shipyard-web@.service binds the same path)."""
        return self.run_dir / f"web-{slot}.sock"

    @property
    def upstream_link(self) -> Path:
        """The socket path Caddy dials (SHIPYARD_UPSTREAM=unix//opt/shipyard/web.sock)."""
        return self.releases.root / "web.sock"

    def switch(self, slot: str) -> None:
        """Point the upstream link at `slot`'s socket in one rename."""
        staged = self.upstream_link.with_name(".web.sock.new")
        staged.unlink(missing_ok=True)
        staged.symlink_to(self.socket(slot))
        staged.replace(self.upstream_link)

    def deploy(self, sha: str, *, migrate: bool = True) -> str:
        """Put release `sha` in service; return the slot now serving. Raise DeployError, having switched nothing."""
        self.releases.path(sha)  # refuses a name that is not a built release
        old_slot, new_slot = self.releases.live_slot(), self.releases.idle_slot()
        self.releases.point(f"slots/{new_slot}", sha)
        if migrate:
            self._step("migrate")
            try:
                self.processes.run(f"migrate@{new_slot}")
            except ProcessError as exc:
                raise DeployError("migrate", f"the migration failed; nothing switched: {exc}") from exc
        self._step("start")
        try:
            self.processes.start(f"web@{new_slot}")
        except ProcessError as exc:
            raise DeployError("start", f"web@{new_slot} did not start; nothing switched: {exc}") from exc
        problem = self._wait_ready(self.socket(new_slot))
        if problem is not None:
            self._step("stop new")
            self.processes.stop(f"web@{new_slot}")
            raise DeployError(
                "ready", f"release {sha} never became ready ({problem}); it was stopped, nothing switched"
            )
        self._step("switch")
        self.switch(new_slot)
        self._step("switched")
        self.releases.set_live(new_slot)
        old_release = self.releases.current()
        if old_release is not None and old_release != sha:
            self.releases.point("previous", old_release)
        self.releases.point("current", sha)
        if old_slot is not None:
            time.sleep(self.drain_s)
            self._step("stop old")
            self.processes.stop(f"web@{old_slot}")
        for unit in BACKGROUND_UNITS:
            self.processes.start(unit)
        self.releases.prune(self.keep)
        self._step("done")
        return new_slot

    def rollback(self) -> str:
        """Deploy the `previous` release again, without migrations (it runs on the expanded schema)."""
        previous = self.releases.previous()
        if previous is None:
            raise DeployError("start", "no previous release to roll back to")
        return self.deploy(previous, migrate=False)

    def _step(self, name: str) -> None:
        self.on_step(name)

    def _wait_ready(self, socket: Path) -> str | None:
        """None once /ready answers 200 through `socket`; else the last status or error seen."""
        deadline = time.monotonic() + self.ready_timeout_s
        last = "no answer"
        transport = httpx2.HTTPTransport(uds=str(socket))
        with httpx2.Client(transport=transport, base_url="http://shipyard", timeout=5) as client:
            while time.monotonic() < deadline:
                # Not there yet: gunicorn binds only after its config loaded. (Connecting to a
                # missing socket file would also leave an unclosed socket in httpcore.)
                if not socket.exists():
                    time.sleep(_READY_POLL_S)
                    continue
                try:
                    status = client.get("/ready").status_code
                except httpx2.HTTPError as exc:
                    last = type(exc).__name__
                else:
                    if status == 200:  # noqa: PLR2004 - HTTP OK
                        return None
                    last = f"/ready answered {status}"
                time.sleep(_READY_POLL_S)
        return last
