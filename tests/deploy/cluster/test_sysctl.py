"""The common role's sysctls: the network ones live in every host, the kernel ones where they can apply.

A container has its own network namespace, so ``net.*`` values are checked live in each host. The
``kernel.*``/``fs.*`` list belongs to the one kernel under every container: nspawn refuses a
container those writes (checked here, which is why the role skips them in a container). On a real
VPS the operator checks them with ``sysctl --system && sysctl <name>...`` (the hardening table of
deploy/ansible/README.md); this machine's kernel is shared by other work and is not changed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deploy.cluster.config import ANSIBLE_DIR
from tests.deploy.cluster.conftest import Cluster

pytestmark = pytest.mark.cluster

COMMON_DEFAULTS = ANSIBLE_DIR / "roles" / "common" / "defaults" / "main.yml"


def _defaults() -> dict[str, dict[str, int]]:
    loaded: dict[str, dict[str, int]] = yaml.safe_load(COMMON_DEFAULTS.read_text(encoding="utf-8"))
    return loaded


def test_network_sysctls_hold_in_every_host(hardened: Cluster) -> None:
    wanted = _defaults()["common_sysctl_network"]
    names = " ".join(wanted)
    for host in hardened.hosts:
        live = hardened.ssh(host, f"/usr/sbin/sysctl -n {names}").stdout.split()
        assert dict(zip(wanted, map(int, live), strict=True)) == wanted, host.name


def test_kernel_sysctls_are_left_to_the_kernels_host_because_a_container_cannot_set_them(hardened: Cluster) -> None:
    wanted = _defaults()["common_sysctl_kernel"]
    # Each write asks for the value the kernel already has: refused all the same, and harmless if not.
    current = {
        name: path.read_text(encoding="utf-8").split()[0]
        for name in wanted
        if (path := Path("/proc/sys", *name.split("."))).exists()
    }
    assert current, "none of the role's kernel sysctls exists on this kernel"
    writes = " ".join(f"{name}={value}" for name, value in current.items())
    refused = hardened.ssh(
        "app1", f"for w in {writes}; do sudo /usr/sbin/sysctl -q -w $w 2>/dev/null && echo set:$w; done"
    )
    assert "set:" not in refused.stdout, f"a container changed the shared kernel's settings: {refused.stdout}"
    written = hardened.ssh("app1", "test -e /etc/sysctl.d/60-shipyard-kernel.conf; echo exit=$?").stdout
    assert "exit=1" in written, "the kernel list was written in a container, where it cannot apply"
