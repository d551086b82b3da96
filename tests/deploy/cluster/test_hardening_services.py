"""The common role's services: fail2ban's jails, unattended security upgrades, audit rules, HTTP/3's port.

chrony and auditd themselves cannot run in a container (no ``CAP_SYS_TIME``; nspawn's seccomp filter
refuses the audit socket), so the role leaves them off here: the hardening table in
deploy/ansible/README.md says what an operator checks on a VPS. What a container can hold is checked.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from xml.etree import ElementTree as ET

import pytest

from deploy.cluster.config import INTERNET_ADDRESS
from tests.deploy.cluster.conftest import Cluster

pytestmark = pytest.mark.cluster

EDGE_JAIL = "shipyard-auth-caddy"
ACCESS_LOG = "/var/log/caddy/shipyard-access.log"
# The jail's maxretry is 10: one more refused sign-in than that.
REFUSED_SIGN_INS = 11
BAN_WAIT_SECONDS = 30
# A QUIC long-header packet of a version no server speaks (RFC 9000 15: 0x?a?a?a?a is reserved for
# this), padded to 1200 bytes: a QUIC server must answer it with version negotiation.
QUIC_UNKNOWN_VERSION = "0x" + ("c0" + "0a0a0a0a" + "08" + "01" * 8 + "08" + "02" * 8).ljust(2400, "0")


def _jails(cluster: Cluster, host: str) -> set[str]:
    status = cluster.ssh(host, "sudo fail2ban-client status")
    if status.returncode != 0:
        journal = cluster.ssh(host, "sudo journalctl -u fail2ban --no-pager -n 20 -o cat").stdout
        pytest.fail(f"{host}: fail2ban does not answer ({status.stderr.strip()}):\n{journal}")
    listed = re.search(r"Jail list:\s*(.*)", status.stdout)
    assert listed, status.stdout
    return {name.strip() for name in listed.group(1).split(",") if name.strip()}


def test_fail2ban_runs_the_sshd_jail_on_every_host(hardened: Cluster) -> None:
    for host in hardened.hosts:
        assert "sshd" in _jails(hardened, host.name), host.name
        # The jail reads the journal (no auth.log on Debian 12) for the port sshd really listens on.
        sshd = hardened.ssh(host, "sudo fail2ban-client get sshd logpath; sudo fail2ban-client get sshd journalmatch")
        assert sshd.returncode == 0, sshd.stderr
        assert "sshd" in sshd.stdout, f"{host.name}: the sshd jail reads no sshd journal:\n{sshd.stdout}"


@pytest.fixture
def banned_internet_host(hardened: Cluster) -> Iterator[Cluster]:
    """The cluster; the internet host's address is unbanned afterwards, since other checks scan from it."""
    yield hardened
    hardened.ssh("edge", f"sudo fail2ban-client set {EDGE_JAIL} unbanip {INTERNET_ADDRESS}")


def test_the_edge_bans_an_address_whose_sign_ins_keep_failing(banned_internet_host: Cluster) -> None:
    cluster = banned_internet_host
    assert {"sshd", EDGE_JAIL} <= _jails(cluster, "edge")
    edge = cluster.host("edge")
    # Callbacks with a state the app never issued, from the internet host as a browser would send them.
    statuses = []
    for _ in range(REFUSED_SIGN_INS):
        refused = cluster.from_internet(
            "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
            "--resolve", f"shipyard.test:443:{edge.public_address}",
            f"https://shipyard.test/api/auth/callback?state={uuid.uuid4().hex}&code=stolen",
            timeout=30,
        )  # fmt: skip
        statuses.append(refused.stdout.strip())
    assert set(statuses) <= {"400", "429"}, statuses
    # The real access-log lines those requests left match the filter, with the internet host's address.
    matched = cluster.ssh(edge, f"sudo fail2ban-regex --out ip {ACCESS_LOG} /etc/fail2ban/filter.d/{EDGE_JAIL}.conf")
    assert matched.returncode == 0, matched.stderr
    assert matched.stdout.split().count(INTERNET_ADDRESS) >= REFUSED_SIGN_INS, matched.stdout[-2000:]
    deadline = time.monotonic() + BAN_WAIT_SECONDS
    while True:
        jail = cluster.ssh(edge, f"sudo fail2ban-client status {EDGE_JAIL}").stdout
        if INTERNET_ADDRESS in jail.split("Banned IP list:")[-1]:
            break
        assert time.monotonic() < deadline, f"{INTERNET_ADDRESS} was not banned:\n{jail}"
        time.sleep(1)
    # Banned means the edge no longer answers that address at all.
    blocked = cluster.from_internet(
        "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "3",
        "--resolve", f"shipyard.test:443:{edge.public_address}", "https://shipyard.test/health",
        timeout=30,
    )  # fmt: skip
    assert blocked.stdout.strip() == "000", blocked.stdout


def test_unattended_upgrades_install_security_updates_daily(hardened: Cluster) -> None:
    for host in hardened.hosts:
        config = hardened.ssh(host, "apt-config dump APT::Periodic Unattended-Upgrade::Origins-Pattern").stdout
        assert 'APT::Periodic::Update-Package-Lists "1";' in config, f"{host.name}:\n{config}"
        assert 'APT::Periodic::Unattended-Upgrade "1";' in config, f"{host.name}:\n{config}"
        assert "label=Debian-Security" in config, f"{host.name}: security updates are not among the origins"
        timers = hardened.ssh(host, "systemctl is-enabled apt-daily.timer apt-daily-upgrade.timer")
        assert timers.stdout.split() == ["enabled", "enabled"], f"{host.name}: {timers.stdout}"
        active = hardened.ssh(host, "systemctl is-active apt-daily.timer apt-daily-upgrade.timer")
        assert active.stdout.split() == ["active", "active"], f"{host.name}: {active.stdout}"


def test_audit_rules_are_in_place_and_time_and_audit_wait_for_a_real_kernel(hardened: Cluster) -> None:
    for host in hardened.hosts:
        rules = hardened.ssh(host, "sudo cat /etc/audit/rules.d/50-shipyard.rules")
        assert rules.returncode == 0, f"{host.name}: {rules.stderr}"
        keys = set(re.findall(r"-k (\w+)", rules.stdout))
        assert {"identity", "sudoers", "sshd", "firewall", "time_change"} <= keys, keys
        installed = hardened.ssh(host, "dpkg-query -W -f '${Status}\\n' chrony auditd").stdout.splitlines()
        assert installed == ["install ok installed"] * 2, f"{host.name}: {installed}"
        # Left off in a container (see the module docstring); a VPS runs both.
        states = hardened.ssh(host, "systemctl is-enabled chrony auditd").stdout.split()
        assert states == ["disabled", "disabled"], f"{host.name}: {states}"


def _udp_443_states(nmap_xml: str) -> dict[str, str]:
    document = ET.fromstring(nmap_xml)  # noqa: S314 (nmap's own report of this scan)
    states = {}
    for host in document.iter("host"):
        address = host.find("address")
        state = host.find("ports/port/state")
        if address is not None and state is not None:
            states[address.get("addr", "")] = state.get("state", "")
    return states


def test_only_the_edge_lets_http3_through_on_udp_443(hardened: Cluster) -> None:
    edge = hardened.host("edge")
    others = [host.private_address for host in hardened.hosts if host.name != "edge"]
    targets = [str(edge.public_address), *others]
    # nmap's own payload for 443/udp is DTLS, which a QUIC server ignores: send a QUIC packet instead.
    scan = hardened.from_internet(
        "nmap", "-n", "-Pn", "-sU", "-p", "443", "--max-retries", "2", "--host-timeout", "60s",
        "--data", QUIC_UNKNOWN_VERSION, "-oX", "-", *targets,
        timeout=120,
    )  # fmt: skip
    assert scan.returncode == 0, scan.stderr
    states = _udp_443_states(scan.stdout)
    assert set(states) == set(targets), f"not every host was scanned: {states}"
    # Caddy answers with QUIC version negotiation (HTTP/3): the firewall let the datagram in.
    assert states[str(edge.public_address)] == "open", states
    # Elsewhere ufw drops it: no answer at all, not even the ICMP a closed port sends. (The edge's
    # private address is left out: its strict rp_filter drops internet traffic arriving there.)
    assert {states[address] for address in others} == {"open|filtered"}, states
