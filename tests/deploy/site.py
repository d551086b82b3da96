"""One host for the deploy tests: a release root, Caddy from deploy/caddy/Caddyfile, the web slots.

Two releases share the suite's virtualenv and differ in their name, which each instance reports
as `release` on /health (SHIPYARD_RELEASE): building two venvs per run would cost a minute for
nothing the switch depends on. The database is SQLite in the site's directory, migrated by the
first deploy.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import httpx

from shipyard.release.deploy import Deployer
from shipyard.release.layout import Releases
from tests.deploy.gunicorn_slots import GunicornSlots
from tests.e2e.servers import DEPLOY, CaddyServer, group_of
from tests.fixtures.servers import LOOPBACK, free_port

REPO = Path(__file__).resolve().parents[2]
RELEASE_A = "a" * 40
RELEASE_B = "b" * 40


class AdminCaddy(CaddyServer):
    """Caddy that counts as started once its admin API and its CA exist: no app is up yet."""

    name: ClassVar[str] = "caddy"

    def _probe(self) -> bool:
        if not self.root_ca.exists():
            return False
        try:
            return httpx.get(f"http://{LOOPBACK}:{self.admin_port}/config/", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class Site:
    """The running host."""

    base: Path
    releases: Releases
    slots: GunicornSlots
    caddy: AdminCaddy
    deployer: Deployer
    steps: list[tuple[str, float]] = field(default_factory=list)

    def build_release(self, sha: str) -> Path:
        """A release directory: the suite's venv and deploy/ files, and RELEASE."""
        path = self.releases.releases_dir / sha
        if not path.exists():
            path.mkdir(parents=True)
            (path / "venv").symlink_to(REPO / ".venv")
            (path / "deploy").symlink_to(DEPLOY)
            (path / "RELEASE").write_text(f"{sha}\n")
        return path

    def client(self) -> httpx.AsyncClient:
        """A client of the public site through Caddy, trusting its internal CA only."""
        context = ssl.create_default_context(cafile=str(self.caddy.root_ca))
        return httpx.AsyncClient(base_url=self.caddy.base_url, verify=context, timeout=60)


@contextlib.contextmanager
def running_site() -> Iterator[Site]:
    """Start Caddy and deploy release A; stop everything on the way out, whatever happened."""
    caddy_user = AdminCaddy(upstream="unix//nowhere", authentik="127.0.0.1:9").user
    group = group_of(caddy_user)
    base = Path(tempfile.mkdtemp(prefix="shipyard-deploys-", dir="/tmp"))
    run_dir = base / "run"
    run_dir.mkdir()
    if group is not None:
        os.chown(base, -1, group)
        os.chown(run_dir, -1, group)
    base.chmod(0o750)
    run_dir.chmod(0o750)
    data_dir = base / "data"
    data_dir.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "SHIPYARD_ENV": "development",
        "DATABASE_URL": f"sqlite+aiosqlite:///{data_dir / 'shipyard.db'}",
        "SHIPYARD_DATA_DIR": str(data_dir),
        "SHIPYARD_WEB_WORKERS": "1",
        "SHIPYARD_JOBS_EMBEDDED": "0",
        "SHIPYARD_TRUST_PROXY_HEADERS": "1",
        "SHIPYARD_LOG_LEVEL": "WARNING",
        "SHIPYARD_ACCESS_LOG": "0",
    }
    releases = Releases(base / "opt")
    slots = GunicornSlots(releases, run_dir, env, group)
    try:
        with AdminCaddy(upstream=f"unix/{releases.root / 'web.sock'}", authentik=f"{LOOPBACK}:{free_port()}") as caddy:
            steps: list[tuple[str, float]] = []
            deployer = Deployer(
                releases,
                slots,
                run_dir=run_dir,
                keep=3,
                ready_timeout_s=30.0,
                drain_s=0.5,
                on_step=lambda step: steps.append((step, time.monotonic())),
            )
            site = Site(base, releases, slots, caddy, deployer, steps)
            site.build_release(RELEASE_A)
            site.build_release(RELEASE_B)
            deployer.deploy(RELEASE_A)
            yield site
    finally:
        slots.close()
        shutil.rmtree(base, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class Answer:
    """One request through the edge."""

    started: float
    status: int | None
    error: str | None
    elapsed: float
    release: str | None


@dataclass
class Load:
    """A steady, open-loop load of GET /health until told to stop (or `max_s` passes)."""

    rate: float = 50.0
    # A bound, never the usual end: the test stops the load; this stops a test that forgot to.
    max_s: float = 900.0
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    async def run(self, client: httpx.AsyncClient) -> None:
        """Send on schedule whether or not earlier requests finished, as real clients do."""

        async def one() -> None:
            began = time.monotonic()
            try:
                response = await client.get("/health")
            except httpx.HTTPError as exc:
                self.answers.append(Answer(began, None, type(exc).__name__, time.monotonic() - began, None))
                return
            release = response.json().get("release") if response.status_code == 200 else None
            self.answers.append(Answer(began, response.status_code, None, time.monotonic() - began, release))

        start = time.monotonic()
        async with asyncio.TaskGroup() as tasks:
            index = 0
            while not self.stop.is_set() and time.monotonic() - start < self.max_s:
                await asyncio.sleep(max(0.0, index / self.rate - (time.monotonic() - start)))
                tasks.create_task(one())
                index += 1

    def failed(self) -> list[Answer]:
        """Anything but a 200."""
        return [answer for answer in self.answers if answer.status != 200]

    def within(self, windows: list[tuple[float, float]]) -> list[Answer]:
        """Requests started inside any of the windows."""
        return [a for a in self.answers if any(start <= a.started <= end for start, end in windows)]


def p99(answers: list[Answer]) -> float:
    """The 99th percentile latency in seconds."""
    return statistics.quantiles([answer.elapsed for answer in answers], n=100)[98]


async def under_load(site: Site, work: Callable[[], object], *, idle_s: float = 0.0, tail_s: float = 1.0) -> Load:
    """Run `work` in a thread after `idle_s` of load, keep the load `tail_s` longer, return it."""
    load = Load()
    async with site.client() as client:
        runner = asyncio.create_task(load.run(client))
        try:
            await asyncio.sleep(idle_s)
            await asyncio.to_thread(work)
            await asyncio.sleep(tail_s)
        finally:
            load.stop.set()
            await runner
    return load
