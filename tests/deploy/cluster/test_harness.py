"""The cluster itself: real systemd on every host, private addresses, nothing routed out, edge on loopback."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from deploy.cluster.config import (
    INTERNET_ADDRESS,
    MANAGEMENT_ADDRESS,
    PRIVATE_PREFIX,
    PUBLIC_PREFIX,
    SUBNET_BITS,
    WEBHOOK_RECEIVER_ADDRESS,
)
from tests.deploy.cluster.conftest import Cluster

pytestmark = pytest.mark.cluster

IP = shutil.which("ip") or "/usr/sbin/ip"


def test_every_host_boots_systemd_with_its_own_name_and_address(cluster: Cluster) -> None:
    for host in cluster.hosts:
        result = cluster.ssh(host, "cat /proc/1/comm; hostname; ip -4 -o address show; cat /etc/machine-id")
        assert result.returncode == 0, f"{host.name}: {result.stderr}"
        init, hostname, *rest = result.stdout.split("\n")
        assert init == "systemd"
        assert hostname == host.name
        assert f"inet {host.private_address}/{SUBNET_BITS}" in "\n".join(rest)
        if host.public_address:
            assert f"inet {host.public_address}/{SUBNET_BITS}" in "\n".join(rest)
    machine_ids = {cluster.ssh(host, "cat /etc/machine-id").stdout for host in cluster.hosts}
    assert len(machine_ids) == len(cluster.hosts)


def test_the_namespace_routes_only_between_its_own_two_subnets(cluster: Cluster) -> None:
    routes = cluster.in_namespace("ip", "-4", "route", "show").stdout.splitlines()
    destinations = sorted(route.split()[0] for route in routes)
    subnets = [f"{PRIVATE_PREFIX}.0/{SUBNET_BITS}", f"{PUBLIC_PREFIX}.0/{SUBNET_BITS}"]
    # ...and the webhook receiver's one global address, to the internet host (decisions/0054).
    assert destinations == sorted([*subnets, WEBHOOK_RECEIVER_ADDRESS])
    receiver = next(route for route in routes if route.startswith(f"{WEBHOOK_RECEIVER_ADDRESS} "))
    assert f"via {INTERNET_ADDRESS} " in receiver
    # The host's view of the outside: one default route, to the namespace, which has none itself.
    app = cluster.host("app1")
    assert f"default via {MANAGEMENT_ADDRESS}" in cluster.ssh(app, "ip -4 route show").stdout
    reach_out = cluster.ssh(app, "timeout 5 bash -c '</dev/tcp/1.1.1.1/443' 2>&1; echo exit=$?")
    assert "exit=0" not in reach_out.stdout


def test_this_machines_network_cannot_reach_the_private_addresses(cluster: Cluster) -> None:
    db = cluster.host("db")
    outside = subprocess.run(  # noqa: S603 (fixed argument list)
        [IP, "-4", "route", "get", db.private_address], capture_output=True, text=True, check=False, timeout=10
    )
    inside = cluster.in_namespace("ip", "-4", "route", "get", db.private_address)
    assert "sy-private" in inside.stdout
    assert "sy-private" not in outside.stdout
