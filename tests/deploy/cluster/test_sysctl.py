"""The common role's sysctls: the network ones live in every host, the kernel ones where they can apply.

A container has its own network namespace, so ``net.*`` values are checked live in each host. The
``kernel.*``/``fs.*`` list belongs to the one kernel under every container: nspawn refuses a
container those writes (checked here, which is why the role skips them in a container); each name
must be one this kernel knows, and on a real VPS the operator checks them with
``sysctl --system && sysctl <name>...`` (deploy/ansible/README.md's hardening table).
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
        live = hardened.ssh(host, f"sysctl -n {names}").stdout.split()
        assert dict(zip(wanted, map(int, live), strict=True)) == wanted, host.name


def test_kernel_sysctls_are_real_names_and_a_container_cannot_set_them(hardened: Cluster) -> None:
    wanted = _defaults()["common_sysctl_kernel"]
    for name in wanted:
        assert Path("/proc/sys", *name.split(".")).exists(), f"{name} is not a sysctl of this kernel"
    refused = hardened.ssh("app1", "sudo sysctl -w kernel.sysrq=0 2>&1; echo exit=$?").stdout
    assert "exit=0" not in refused, "a container could change the shared kernel's settings"
    written = hardened.ssh("app1", "test -e /etc/sysctl.d/60-shipyard-kernel.conf; echo exit=$?").stdout
    assert "exit=1" in written, "the kernel list was written in a container, where it cannot apply"
