"""From a neutral internet host, a real port scan: only the edge's 80 and 443 answer.

The namespace routes the internet subnet to the private one, so the scan reaches every private
address as well as the edge's public one: what stops it is each host's firewall, not the topology.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

import pytest

from tests.deploy.cluster.conftest import Cluster

pytestmark = pytest.mark.cluster

SCAN_TIMEOUT_SECONDS = 240


def _open_ports(nmap_xml: str) -> set[tuple[str, int]]:
    document = ET.fromstring(nmap_xml)  # noqa: S314 (nmap's own report of this scan)
    found = set()
    for host in document.iter("host"):
        address = host.find("address")
        assert address is not None
        for port in host.iter("port"):
            state = port.find("state")
            if state is not None and state.get("state") == "open":
                found.add((address.get("addr", ""), int(port.get("portid", "0"))))
    return found


def test_only_the_edges_http_and_https_answer_a_full_tcp_scan(hardened: Cluster) -> None:
    targets = [host.private_address for host in hardened.hosts]
    targets += [host.public_address for host in hardened.hosts if host.public_address]
    scan = hardened.from_internet(
        "nmap", "-n", "-Pn", "-sS", "-p-", "--max-retries", "1", "--min-rate", "20000",
        "--host-timeout", "180s", "-oX", "-", *targets,
        timeout=SCAN_TIMEOUT_SECONDS,
    )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    assert scan.stdout.count("<host ") == len(targets), "some host was not scanned to the end"
    edge = hardened.host("edge")
    edge_addresses = {edge.private_address, edge.public_address}
    opened = _open_ports(scan.stdout)
    assert {port for address, port in opened if address in edge_addresses} == {80, 443}
    assert {address for address, _ in opened} <= edge_addresses, f"open beyond the edge: {sorted(opened)}"
