"""Bring the whole cluster up and down: root, network, hosts, SSH, loopback forwarders, inventory."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from deploy.cluster import dev_provider, hosts, lock, network, pki
from deploy.cluster.commands import in_netns, run
from deploy.cluster.config import (
    HARDENED_SSH_PORT,
    HOSTS,
    INITIAL_SSH_PORT,
    LOOPBACK_HTTP_PORT,
    LOOPBACK_HTTPS_PORT,
    MANAGEMENT_ADDRESS,
    REPO,
    STATE_DIR,
    ClusterError,
    Host,
)
from deploy.cluster.root import ensure_root

SSH_KEY = STATE_DIR / "ssh" / "id_ed25519"
KNOWN_HOSTS = STATE_DIR / "ssh" / "known_hosts"
SSH_WAIT_SECONDS = 90
FORWARDER_MODULE = "deploy.cluster.forwarder"
NEEDED_TOOLS = ("systemd-nspawn", "nsenter", "ip", "mount", "ssh", "ssh-keygen")


@dataclass
class Timings:
    """Seconds spent in each step of ``up``, for the report."""

    steps: dict[str, float] = field(default_factory=dict)

    def record(self, step: str, started: float) -> None:
        """Store the time since ``started`` under ``step``."""
        self.steps[step] = round(time.monotonic() - started, 1)


def preflight() -> None:
    """Fail in one line when this machine cannot run the cluster (not root, tools missing)."""
    if os.geteuid() != 0:
        raise ClusterError("the cluster needs root (containers, namespaces, mounts): run it as root")
    missing = [tool for tool in NEEDED_TOOLS if shutil.which(tool) is None]
    if missing:
        raise ClusterError(f"the cluster needs {', '.join(missing)}: run `make test-deps` as root")


def ssh_command(host: Host, *command: str, port: int = INITIAL_SSH_PORT, user: str = "root") -> list[str]:
    """The ssh command line (run inside the namespace) that executes ``command`` on ``host``."""
    return in_netns(
        [
            "ssh",
            "-i",
            str(SSH_KEY),
            "-p",
            str(port),
            "-o",
            f"UserKnownHostsFile={KNOWN_HOSTS}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "ServerAliveInterval=5",
            f"{user}@{host.private_address}",
            *command,
        ]
    )


def reached_hardened(host: Host) -> bool:
    """Whether the host already answers as ``deploy`` on 2222 (the common role has run)."""
    probe = ssh_command(host, "true", port=HARDENED_SSH_PORT, user="deploy")
    return subprocess.run(probe, capture_output=True, timeout=15, check=False).returncode == 0  # noqa: S603


def login_command(host: Host, *command: str) -> list[str]:
    """SSH to the host as it can be reached now: ``deploy`` on 2222 once hardened, root on 22 before."""
    if reached_hardened(host):
        return ssh_command(host, *command, port=HARDENED_SSH_PORT, user="deploy")
    return ssh_command(host, *command)


def _make_key() -> str:
    SSH_KEY.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not SSH_KEY.exists():
        run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "shipyard-cluster", "-f", str(SSH_KEY)],
            what="ssh-keygen",
        )
    return SSH_KEY.with_suffix(".pub").read_text(encoding="utf-8")


def _write_known_hosts() -> None:
    lines = []
    for host in HOSTS:
        for key in hosts.host_public_keys(host):
            lines.append(f"{host.private_address} {key}")
            lines.append(f"[{host.private_address}]:{HARDENED_SSH_PORT} {key}")
    KNOWN_HOSTS.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _wait_for_ssh(host: Host, deadline: float) -> None:
    while True:
        attempt = subprocess.run(ssh_command(host, "true"), capture_output=True, timeout=15, check=False)  # noqa: S603
        if attempt.returncode == 0:
            return
        if not hosts.is_running(host):
            raise ClusterError(f"{host.name} stopped while booting: see {hosts.host_dir(host) / 'console.log'}")
        if time.monotonic() > deadline:
            raise ClusterError(f"{host.name} did not answer SSH on port 22 within {SSH_WAIT_SECONDS} s")
        time.sleep(0.5)


def _start_forwarder(loopback_port: int, target: str) -> None:
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(("127.0.0.1", loopback_port))
    except OSError as error:
        listening.close()
        raise ClusterError(
            f"127.0.0.1:{loopback_port} is taken ({error.strerror}): set SHIPYARD_CLUSTER_HTTP(S)_PORT"
        ) from error
    listening.listen(128)
    command = in_netns([sys.executable, "-m", FORWARDER_MODULE, "--listen-fd", str(listening.fileno()), "--to", target])
    log = (STATE_DIR / f"forwarder-{loopback_port}.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 (fixed argument list)
        command,
        cwd=REPO,
        pass_fds=(listening.fileno(),),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    listening.close()
    hosts.LAUNCHED[process.pid] = process


def up() -> Timings:
    """Start the cluster from scratch (after removing whatever an earlier run left)."""
    preflight()
    lock.hold()
    timings = Timings()
    down()
    started = time.monotonic()
    root, _ = ensure_root()
    timings.record("root", started)
    STATE_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    dev_provider.ensure_installed()
    pki.ensure_ca()
    started = time.monotonic()
    network.create()
    public_key = _make_key()
    for host in HOSTS:
        hosts.start(host, hosts.prepare(host, root, public_key))
    _write_known_hosts()
    deadline = time.monotonic() + SSH_WAIT_SECONDS
    for host in HOSTS:
        _wait_for_ssh(host, deadline)
    timings.record("boot", started)
    edge = next(host for host in HOSTS if host.public_address)
    _start_forwarder(LOOPBACK_HTTP_PORT, f"{edge.public_address}:80")
    _start_forwarder(LOOPBACK_HTTPS_PORT, f"{edge.public_address}:443")
    return timings


def down() -> dict[str, float]:
    """Stop everything the cluster runs, remove its namespace, mounts and state; return each step's seconds.

    Idempotent: what is not there is skipped.
    """
    lock.hold()
    seconds: dict[str, float] = {}
    started = time.monotonic()
    # Forwarders and SSH masters end with a SIGTERM; the hosts halt meanwhile, all together.
    hosts.end_processes([*hosts.running_pids(FORWARDER_MODULE), *_ssh_masters()], timeout=5)
    hosts.stop_all()
    network.remove()
    seconds["down: stop"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    if STATE_DIR.exists():
        leftover = [hosts.host_dir(host) / "merged" for host in HOSTS if (hosts.host_dir(host) / "merged").is_mount()]
        if leftover:
            raise ClusterError(f"{leftover[0]} is still mounted: umount it, then run `make cluster-down` again")
        # The overlays' upper layers hold whole releases and databases: rm is much faster than rmtree.
        run(["rm", "-rf", "--one-file-system", str(STATE_DIR)], what="removing the cluster's state", timeout=600)
    seconds["down: files"] = round(time.monotonic() - started, 1)
    return seconds


def _ssh_masters() -> list[int]:
    # Ansible's ControlMaster processes outlive the hosts and would keep the namespace alive; they
    # are the ssh processes whose control socket is in this cluster's directory.
    control_dir = f"{STATE_DIR / 'cp'}/"
    return [pid for pid in hosts.running_pids_with(control_dir) if hosts.command_name(pid) == "ssh"]


def status() -> list[str]:
    """One line per host, and the loopback addresses, for ``status`` and the end of ``up``."""
    if not network.exists():
        return ["the cluster is not running (make cluster)"]
    lines = [f"management address (the namespace, where Ansible runs): {MANAGEMENT_ADDRESS}"]
    for host in HOSTS:
        state = "running" if hosts.is_running(host) else "stopped"
        public = f", public {host.public_address}" if host.public_address else ""
        lines.append(f"{host.name:9} {state:8} private {host.private_address}{public}")
    lines.append(
        f"edge from this machine: http://127.0.0.1:{LOOPBACK_HTTP_PORT}  https://127.0.0.1:{LOOPBACK_HTTPS_PORT}"
    )
    lines.append(f"ssh: python -m deploy.cluster ssh HOST (key {SSH_KEY})")
    lines.append(f"     root on port 22 before the roles, deploy on {HARDENED_SSH_PORT} after")
    return lines
