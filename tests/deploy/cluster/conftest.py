"""The cluster the checks run against: six hosts up once per session, the roles applied once.

It reuses the cached Debian root (built once per machine), removes whatever an aborted earlier run
left before it starts, and tears everything down at the end even when tests fail (``finally``, and an
``atexit`` for an interpreter that dies before the fixture's teardown). A machine that cannot run
containers fails these tests with one line; it does not skip them.
"""

from __future__ import annotations

import atexit
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploy.cluster import cluster as cluster_control
from deploy.cluster import lock
from deploy.cluster.ansible import LOG_DIR, PlaybookRun, run_playbook
from deploy.cluster.commands import in_netns
from deploy.cluster.config import (
    HARDENED_SSH_PORT,
    HOSTS,
    INTERNET_NETNS,
    ClusterError,
    Host,
    host_named,
)

SSH_COMMAND_TIMEOUT_SECONDS = 300
# pytest-timeout counts fixture setup against the first test: that one boots the cluster and applies
# site.yml (about 5 minutes on a loaded machine), so cluster tests get more than the suite's 300 s.
CLUSTER_TEST_TIMEOUT_SECONDS = 1500
# What the session measured (root build, boot, applies), for the closing summary.
MEASURED: dict[str, float] = {}


@dataclass
class Cluster:
    """A running cluster: its hosts, helpers to run commands on them, and what ``up`` measured."""

    seconds: dict[str, float]
    first_apply: PlaybookRun | None
    hosts: tuple[Host, ...] = HOSTS
    notes: list[str] = field(default_factory=list)

    def host(self, name: str) -> Host:
        """The host called ``name``."""
        return host_named(name)

    def ssh(
        self, host: Host | str, command: str, *, timeout: float = SSH_COMMAND_TIMEOUT_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on the host over SSH, as ``deploy`` on 2222 once hardened, root on 22 before."""
        target = host if isinstance(host, Host) else host_named(host)
        hardened = cluster_control.ssh_command(target, command, port=HARDENED_SSH_PORT, user="deploy")
        result = subprocess.run(hardened, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
        if result.returncode == 255 and "Connection refused" in result.stderr:
            initial = cluster_control.ssh_command(target, command)
            result = subprocess.run(initial, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
        return result

    def from_internet(
        self, *command: str, timeout: float = SSH_COMMAND_TIMEOUT_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on this machine's tools, inside the neutral internet host's namespace."""
        return subprocess.run(  # noqa: S603 (fixed argument list)
            in_netns(command, INTERNET_NETNS), capture_output=True, text=True, timeout=timeout, check=False
        )

    def in_namespace(self, *command: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on this machine's tools, inside the cluster's namespace (the controller's side)."""
        return subprocess.run(  # noqa: S603 (fixed argument list)
            in_netns(command), capture_output=True, text=True, timeout=timeout, check=False
        )

    def run_playbook(self, playbook: str = "site.yml", *extra: str) -> PlaybookRun:
        """Apply a playbook from ``deploy/ansible`` to the cluster."""
        return run_playbook(playbook, *extra)

    def require_roles_applied(self) -> PlaybookRun:
        """The first run of site.yml; fail the calling test with its errors when it failed."""
        if self.first_apply is None:
            pytest.fail("deploy/ansible/site.yml does not exist, so the roles were not applied")
        if self.first_apply.returncode != 0:
            summary = self.first_apply.failure_summary()
            pytest.fail(f"the first run of site.yml failed (log in {LOG_DIR}):\n{summary}")
        return self.first_apply


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every cluster test the longer timeout, whichever of them happens to start the cluster."""
    here = Path(__file__).parent
    for item in items:
        if "cluster" in item.keywords and item.path.is_relative_to(here) and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(CLUSTER_TEST_TIMEOUT_SECONDS))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say how long the cluster's steps took, so the budget can be watched."""
    if MEASURED:
        steps = ", ".join(f"{step} {seconds:.0f} s" for step, seconds in MEASURED.items())
        terminalreporter.write_line(f"cluster: {steps}")


def _tear_down() -> None:
    started = time.monotonic()
    try:
        MEASURED.update(cluster_control.down())
        MEASURED["down"] = round(time.monotonic() - started, 1)
    except ClusterError as error:
        print(f"cluster teardown: {error}")  # noqa: T201 (atexit has no other channel)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """Start the cluster and apply site.yml once; tear it down when the session ends."""
    try:
        cluster_control.preflight()
    except ClusterError as error:
        pytest.fail(f"the cluster tests cannot run here: {error}", pytrace=False)
    atexit.register(_tear_down)
    try:
        timings = cluster_control.up()
        first_apply = None
        if (cluster_control.REPO / "deploy" / "ansible" / "site.yml").exists():
            started = time.monotonic()
            first_apply = run_playbook("site.yml")
            timings.record("first apply", started)
        MEASURED.update(timings.steps)
        yield Cluster(seconds=MEASURED, first_apply=first_apply)
    except ClusterError as error:
        pytest.fail(f"the cluster did not start: {error}", pytrace=False)
    finally:
        _tear_down()
        atexit.unregister(_tear_down)
        lock.release()


@pytest.fixture
def hardened(cluster: Cluster) -> Cluster:
    """The cluster, after a successful first run of site.yml."""
    cluster.require_roles_applied()
    return cluster
