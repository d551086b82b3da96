"""The six containers: an overlay of the cached root each, booted with ``systemd-nspawn -b``.

Each host's overlay gets its own hostname, machine id, SSH host keys, static network file and the
run's authorized key for root (a fresh VPS is reached as root on port 22 with the provider's key).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from deploy.cluster import pki
from deploy.cluster.commands import in_netns, run
from deploy.cluster.config import (
    DEV_PROVIDER_DIR,
    DEV_PROVIDER_MOUNT,
    HOSTS,
    MANAGEMENT_ADDRESS,
    NODE_MOUNT,
    PRIVATE_BRIDGE,
    SITE,
    STATE_DIR,
    SUBNET_BITS,
    WEBHOOK_RECEIVER_ADDRESS,
    WEBHOOK_RECEIVER_NAME,
    ClusterError,
    Host,
)
from deploy.cluster.dev_provider import node_path
from deploy.cluster.network import attach_to_public_bridge

CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_GROUP = "shipyard-cluster"
STOP_TIMEOUT_SECONDS = 20
PUBLIC_INTERFACE = "public0"
# The processes this interpreter started, kept so that they are reaped (and not reported as leaked).
LAUNCHED: dict[int, subprocess.Popen[bytes]] = {}


def host_dir(host: Host) -> Path:
    """Where a host's overlay, console log and pid file live for this run."""
    return STATE_DIR / "hosts" / host.name


def public_veth(host: Host) -> str:
    """The namespace side of the edge's public link (interface names stop at 15 characters)."""
    return f"vp-{host.name}"[:15]


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def _network_files(host: Host) -> dict[str, str]:
    files = {
        "10-private.network": (
            "[Match]\nName=host0\n\n[Network]\n"
            f"Address={host.private_address}/{SUBNET_BITS}\nGateway={MANAGEMENT_ADDRESS}\n"
        )
    }
    if host.public_address:
        # The edge answers the internet on its public link; its default route stays private.
        files["20-public.network"] = (
            f"[Match]\nName={PUBLIC_INTERFACE}\n\n[Network]\nAddress={host.public_address}/{SUBNET_BITS}\n"
        )
    return files


def prepare(host: Host, root: Path, public_key: str) -> Path:
    """Mount the host's overlay of ``root`` with its identity written in; return the merged tree."""
    base = host_dir(host)
    upper, work, merged = base / "upper", base / "work", base / "merged"
    for directory in (upper, work, merged):
        directory.mkdir(parents=True, exist_ok=True)
    _write(upper / "etc/hostname", f"{host.name}\n")
    edge = next(other for other in HOSTS if other.public_address)
    # What DNS would answer: the site at the edge (its private address, seen from inside), the
    # customer's webhook receiver on the internet.
    names = f"{edge.private_address} {SITE}\n{WEBHOOK_RECEIVER_ADDRESS} {WEBHOOK_RECEIVER_NAME}\n"
    _write(upper / "etc/hosts", f"127.0.0.1 localhost\n127.0.1.1 {host.name}\n{names}")
    pki.trust(upper, root)
    if host.public_address:
        pki.plant_caddy_root(upper, root)
    _write(upper / "etc/machine-id", f"{uuid.uuid4().hex}\n", 0o444)
    for name, text in _network_files(host).items():
        _write(upper / "etc/systemd/network" / name, text)
    (upper / "root").mkdir(mode=0o700, exist_ok=True)
    _write(upper / "root/.ssh/authorized_keys", public_key, 0o600)
    (upper / "root/.ssh").chmod(0o700)
    # The package lists are as fresh as the root, but the roles' apt tasks must not try to refresh
    # them (no internet here): the stamp apt and Ansible read says they were updated at boot.
    _write(upper / "var/lib/apt/periodic/update-success-stamp", "")
    (upper / "etc/ssh").mkdir(parents=True, exist_ok=True)
    # Ed25519 only: RSA generation costs seconds per host on a loaded machine, and the roles drop the
    # NIST-curve key anyway; sshd serves the host keys it finds.
    host_key = upper / "etc/ssh/ssh_host_ed25519_key"
    keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"root@{host.name}", "-f", str(host_key)]
    run(keygen, what=f"making {host.name}'s SSH host key")
    options = f"lowerdir={root},upperdir={upper},workdir={work}"
    run(["mount", "-t", "overlay", "overlay", "-o", options, str(merged)], what=f"mounting {host.name}'s root")
    return merged


def host_public_keys(host: Host) -> list[str]:
    """The host's SSH public host keys, as ``known_hosts`` wants them (without the address)."""
    keys = sorted((host_dir(host) / "upper/etc/ssh").glob("ssh_host_*_key.pub"))
    return [" ".join(key.read_text(encoding="utf-8").split()[:2]) for key in keys]


def _cgroup_dirs(host: Host) -> list[Path]:
    # Without systemd as PID 1, --keep-unit leaves the container in its launcher's cgroup: give each
    # one its own, in every hierarchy systemd uses (mixed v1/v2 here; pure v2 has only the root).
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT / CGROUP_GROUP / host.machine]
    return [CGROUP_ROOT / hierarchy / CGROUP_GROUP / host.machine for hierarchy in ("systemd", "unified")]


def start(host: Host, merged: Path) -> int:
    """Boot the host; return the pid of its systemd-nspawn."""
    cgroups = _cgroup_dirs(host)
    for directory in cgroups:
        directory.mkdir(parents=True, exist_ok=True)
    nspawn = [
        "systemd-nspawn",
        "--boot",
        f"--directory={merged}",
        f"--machine={host.machine}",
        "--register=no",
        "--keep-unit",
        f"--network-bridge={PRIVATE_BRIDGE}",
        "--console=read-only",
    ]
    if host.public_address:
        nspawn.append(f"--network-veth-extra={public_veth(host)}:{PUBLIC_INTERFACE}")
    if host.group == "identity":
        nspawn += [f"--bind-ro={node_path()}:{NODE_MOUNT}", f"--bind-ro={DEV_PROVIDER_DIR}:{DEV_PROVIDER_MOUNT}"]
    # The shell joins the container's cgroups, then becomes nspawn inside the cluster's namespace.
    join = "; ".join(f'echo $$ > "{directory}/cgroup.procs"' for directory in cgroups)
    command = ["sh", "-c", f'{join}; exec "$@"', "sh", *in_netns(nspawn)]
    console = (host_dir(host) / "console.log").open("wb")
    process = subprocess.Popen(  # noqa: S603 (fixed argument list)
        command, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT, start_new_session=True
    )
    console.close()
    LAUNCHED[process.pid] = process
    (host_dir(host) / "pid").write_text(str(process.pid), encoding="utf-8")
    if host.public_address:
        _attach_when_created(host, process)
    return process.pid


def _attach_when_created(host: Host, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ClusterError(f"{host.name} stopped while booting: see {host_dir(host) / 'console.log'}")
        listed = run(in_netns(["ip", "-o", "link", "show", public_veth(host)]), what="looking for a link", check=False)
        if listed.returncode == 0:
            attach_to_public_bridge(public_veth(host))
            return
        time.sleep(0.1)
    raise ClusterError(f"{host.name}'s public link {public_veth(host)} did not appear within 15 s")


def _is_ours(pid: int, needle: str) -> bool:
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return needle.encode() in arguments


def running_pids(needle: str) -> list[int]:
    """Processes whose command line holds the argument ``needle`` exactly (ours, by their arguments)."""
    return [
        int(entry.name)
        for entry in Path("/proc").iterdir()
        if entry.name.isdigit() and _is_ours(int(entry.name), needle)
    ]


def running_pids_with(fragment: str) -> list[int]:
    """Processes with an argument that contains ``fragment`` (a path of ours, say)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if fragment.encode() in arguments:
            found.append(int(entry.name))
    return found


def command_name(pid: int) -> str:
    """The process's command name (``comm``), empty when it is gone."""
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _nspawn_pids(host: Host) -> list[int]:
    return [pid for pid in running_pids(f"--machine={host.machine}") if _is_ours(pid, "systemd-nspawn")]


def is_running(host: Host) -> bool:
    """Whether the host's systemd-nspawn is alive."""
    return bool(_nspawn_pids(host))


def end_processes(pids: list[int], timeout: float = STOP_TIMEOUT_SECONDS) -> None:
    """SIGTERM these processes, wait (bounded) for them to go, SIGKILL what is left, reap our own."""
    for pid in pids:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        pids = [pid for pid in pids if _alive(pid)]
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
        _alive(pid)


def _alive(pid: int) -> bool:
    launched = LAUNCHED.get(pid)
    if launched is not None:
        if launched.poll() is None:
            return True
        del LAUNCHED[pid]
        return False
    return Path(f"/proc/{pid}").exists()


def stop(host: Host) -> None:
    """Shut the host down (SIGTERM asks nspawn to halt the container), unmount it, drop its cgroups."""
    end_processes(_nspawn_pids(host))
    _release(host)


def _release(host: Host) -> None:
    merged = host_dir(host) / "merged"
    if merged.is_mount():
        run(["umount", "--lazy", str(merged)], what=f"unmounting {host.name}'s root")
    for directory in _cgroup_dirs(host):
        if directory.exists():
            # Depth first: nspawn leaves payload/ and supervisor/ below the container's cgroup.
            for child in sorted(directory.rglob("*"), key=lambda path: len(path.parts), reverse=True):
                if child.is_dir():
                    child.rmdir()
            directory.rmdir()


def stop_all() -> None:
    """Stop every host that is running (all at once), and clean what a crashed run left."""
    end_processes([pid for host in HOSTS for pid in _nspawn_pids(host)])
    for host in HOSTS:
        _release(host)
    for directory in {path.parent for host in HOSTS for path in _cgroup_dirs(host)}:
        if directory.exists():
            directory.rmdir()
