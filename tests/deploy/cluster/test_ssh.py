"""SSH after the common role: keys only, no root, port 2222, and ssh-audit finds no failure."""

from __future__ import annotations

import pytest

from deploy.cluster.cluster import KNOWN_HOSTS, SSH_KEY
from deploy.cluster.config import HARDENED_SSH_PORT, INITIAL_SSH_PORT
from tests.deploy.cluster.conftest import Cluster

pytestmark = pytest.mark.cluster


def _ssh(cluster: Cluster, address: str, user: str, *options: str) -> str:
    attempt = cluster.in_namespace(
        "ssh", "-p", str(HARDENED_SSH_PORT), "-o", f"UserKnownHostsFile={KNOWN_HOSTS}",
        "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", *options, f"{user}@{address}", "true",
    )  # fmt: skip
    assert attempt.returncode == 255, f"{user}@{address} got in"
    return attempt.stderr


def test_password_and_root_logins_are_refused_and_keys_still_work(hardened: Cluster) -> None:
    for host in hardened.hosts:
        # The server offers public keys only: a client that will only type a password is turned away.
        refused = _ssh(hardened, host.private_address, "deploy", "-o", "PubkeyAuthentication=no")
        assert "Permission denied (publickey)" in refused, refused
        # Root's authorized key is the one that got in before hardening; sshd no longer takes it.
        root = _ssh(hardened, host.private_address, "root", "-i", str(SSH_KEY))
        assert "Permission denied" in root, root
        assert hardened.ssh(host, "id -un").stdout.strip() == "deploy"


def test_ssh_listens_on_2222_only(hardened: Cluster) -> None:
    for host in hardened.hosts:
        listening = hardened.ssh(host, "ss -Hltn").stdout
        assert f":{HARDENED_SSH_PORT} " in listening
        assert f":{INITIAL_SSH_PORT} " not in listening


def test_ssh_audit_reports_no_failure(hardened: Cluster) -> None:
    for host in hardened.hosts:
        audit = hardened.in_namespace("ssh-audit", "-n", "-p", str(HARDENED_SSH_PORT), host.private_address, timeout=60)
        # Debian's ssh-audit 2.5 exits 0 when clean, 2 on warnings, 3 on a failure, 1 when it could not connect.
        failures = "\n".join(line for line in audit.stdout.splitlines() if "[fail]" in line)
        assert audit.returncode in {0, 2}, f"{host.name} (exit {audit.returncode}):\n{failures or audit.stderr}"
        assert not failures
