"""Single-host deploys under a steady load through Caddy: 20 switches, a broken release, a failing
migration, a rollback, and today's reload beside the deploy. Real Caddy, real gunicorn, loopback.

Each test prints its numbers; docs/operations/deploys.md quotes them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command

from shipyard.kit.migrate import alembic_config
from shipyard.release.deploy import DeployError
from shipyard.settings import Settings
from tests.deploy.site import RELEASE_A, RELEASE_B, Answer, Site, p99, running_site, under_load

# A deploy costs one app start (about 3 s of CPU): the twenty take minutes on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

DEPLOYS = 20
# Load without a deploy between two deploys: the idle sample.
PAUSE_S = 1.5


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    with running_site() as running:
        yield running


def _windows(site: Site, begin: str, end: str, since: float) -> list[tuple[float, float]]:
    """(start, end) of every deploy step pair recorded after `since`."""
    steps = [(name, at) for name, at in site.steps if at >= since]
    starts = [at for name, at in steps if name == begin]
    ends = [at for name, at in steps if name == end]
    return list(zip(starts, ends, strict=True))


def _summary(name: str, answers: list[Answer]) -> str:
    slowest = max(answer.elapsed for answer in answers)
    return f"{name}: {len(answers)} requests, p99 {p99(answers) * 1000:.1f} ms, max {slowest * 1000:.1f} ms"


def _serving(site: Site) -> Path:
    live = site.releases.live_slot()
    assert live is not None
    return site.deployer.socket(live)


async def test_twenty_deploys_under_load_fail_no_request(site: Site) -> None:
    began = time.monotonic()
    order = [RELEASE_B if index % 2 == 0 else RELEASE_A for index in range(DEPLOYS)]
    if site.releases.current() == RELEASE_B:
        order = [RELEASE_A if sha == RELEASE_B else RELEASE_B for sha in order]

    def deploys() -> None:
        for sha in order:
            site.deployer.deploy(sha)
            assert site.releases.current() == sha
            time.sleep(PAUSE_S)

    load = await under_load(site, deploys, idle_s=PAUSE_S)

    # Idle: the pauses between deploys, so that both samples see the same (shared, busy) machine.
    deploy_windows = _windows(site, "migrate", "done", began)
    idle_windows = list(zip([began, *(end for _, end in deploy_windows)], (s for s, _ in deploy_windows), strict=False))
    idle = load.within([(start + 0.2, end) for start, end in idle_windows])
    switches = load.within(_windows(site, "switch", "done", began))
    whole = load.within(deploy_windows)
    print(f"\n{_summary('idle', idle)}\n{_summary('switches', switches)}\n{_summary('whole deploys', whole)}")  # noqa: T201
    span = load.answers[-1].started - load.answers[0].started
    print(f"deploys: {DEPLOYS} in {time.monotonic() - began:.1f} s, {len(load.answers)} requests over {span:.1f} s")  # noqa: T201
    assert span > deploy_windows[-1][1] - began - 1.0, "the load stopped before the last deploy"
    assert load.failed() == []
    assert len(_windows(site, "switch", "done", began)) == DEPLOYS
    assert {answer.release for answer in load.answers} == {RELEASE_A, RELEASE_B}
    assert p99(switches) <= 2 * p99(idle)
    assert site.deployer.upstream_link.readlink() == _serving(site)
    assert len(site.slots.processes) == 1, "the old instance is still running"
    assert site.slots.restarted[-2:] == ["worker", "scheduler"]


async def test_a_release_that_fails_ready_gets_no_request(site: Site) -> None:
    broken = "c" * 40
    site.build_release(broken)
    # A configuration mistake of that release: its Redis does not answer, so /ready says 503.
    site.slots.release_env[broken] = {"REDIS_URL": f"redis://127.0.0.1:{_closed_port()}/0"}
    serving, before = site.releases.current(), _serving(site)
    site.deployer.ready_timeout_s = 4.0
    failures: list[DeployError] = []

    def deploy() -> None:
        try:
            site.deployer.deploy(broken)
        except DeployError as exc:
            failures.append(exc)

    try:
        load = await under_load(site, deploy)
    finally:
        site.deployer.ready_timeout_s = 30.0

    assert [failure.stage for failure in failures] == ["ready"]
    assert load.failed() == []
    assert {answer.release for answer in load.answers} == {serving}
    assert site.releases.current() == serving
    assert site.deployer.upstream_link.readlink() == before
    assert len(site.slots.processes) == 1, "the broken release was not stopped"


async def test_a_failing_migration_aborts_before_anything_starts(site: Site) -> None:
    serving, before = site.releases.current(), _serving(site)
    target = RELEASE_A if serving == RELEASE_B else RELEASE_B
    database = Path(site.slots.env["SHIPYARD_DATA_DIR"]) / "shipyard.db"
    settings = Settings.model_validate({"database_url": site.slots.env["DATABASE_URL"]})
    # The new release brings a migration (the schema is one revision behind), and it fails: another
    # session holds the write lock for longer than the migration waits.
    await asyncio.to_thread(command.downgrade, alembic_config(settings), "-1")
    lock = sqlite3.connect(database, isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    failures: list[DeployError] = []

    def deploy() -> None:
        try:
            site.deployer.deploy(target)
        except DeployError as exc:
            failures.append(exc)

    try:
        load = await under_load(site, deploy)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        await asyncio.to_thread(command.upgrade, alembic_config(settings), "head")

    assert [failure.stage for failure in failures] == ["migrate"]
    assert "locked" in str(failures[0])
    assert load.failed() == []
    assert {answer.release for answer in load.answers} == {serving}
    assert site.releases.current() == serving
    assert site.deployer.upstream_link.readlink() == before
    assert len(site.slots.processes) == 1, "a web instance started although the migration failed"


async def test_rollback_returns_to_the_previous_release(site: Site) -> None:
    # In threads, as in under_load: the in-process migration runs its own event loop.
    await asyncio.to_thread(site.deployer.deploy, RELEASE_A)
    await asyncio.to_thread(site.deployer.deploy, RELEASE_B)
    assert site.releases.previous() == RELEASE_A

    load = await under_load(site, site.deployer.rollback)

    assert site.releases.current() == RELEASE_A
    assert site.releases.previous() == RELEASE_B
    assert load.failed() == []
    assert load.answers[-1].release == RELEASE_A
    assert {answer.release for answer in load.answers} == {RELEASE_A, RELEASE_B}


async def test_reload_and_deploy_side_by_side(site: Site) -> None:
    """What `systemctl reload shipyard-web` (HUP) costs under load today, beside a deploy."""
    live = site.releases.live_slot()
    pid = site.slots.pid(f"web@{live}")
    assert pid is not None
    hup_at: list[float] = []

    def reload() -> None:
        hup_at.append(time.monotonic())
        os.kill(pid, signal.SIGHUP)
        time.sleep(4.0)  # the new workers import the app and take over

    reloaded = await under_load(site, reload, idle_s=2.0)
    began = time.monotonic()
    other = RELEASE_A if site.releases.current() == RELEASE_B else RELEASE_B
    deployed = await under_load(site, lambda: site.deployer.deploy(other), idle_s=2.0)

    reload_window = reloaded.within([(hup_at[0], hup_at[0] + 4.0)])
    deploy_window = deployed.within(_windows(site, "migrate", "done", began))
    print(f"\n{_summary('reload (HUP)', reload_window)}, {len(reloaded.failed())} failed")  # noqa: T201
    print(f"{_summary('deploy', deploy_window)}, {len(deployed.failed())} failed")  # noqa: T201
    assert reloaded.failed() == []
    assert deployed.failed() == []


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
