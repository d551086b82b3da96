"""The cached Debian 12 root every container boots from, keyed on ``packages.txt``.

It is built once per machine with ``mmdebstrap`` (``debootstrap`` when mmdebstrap is missing) into a
temporary directory that is renamed into place when complete, so a killed build never leaves a half
root behind. The packages' own services are disabled in the image: on a fresh VPS they would not be
installed yet, and the roles enable exactly the ones each host runs.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import time
from pathlib import Path

from deploy.cluster.config import CACHE_DIR, PACKAGES_FILE, ClusterError

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
# Bumped when the way the root is made changes, so a cached root built the old way is not reused.
RECIPE_VERSION = "1"
BUILD_TIMEOUT_SECONDS = 1200
# Services a package starts by itself; on a fresh VPS they are not installed yet, so the image keeps
# them off and the roles turn on what a host needs. ssh stays on: it is how a new VPS is reached.
SERVICES_OFF = (
    "postgresql",
    "redis-server",
    "caddy",
    "pgbouncer",
    "fail2ban",
    "chrony",
    "auditd",
    "unattended-upgrades",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
)


def package_names() -> list[str]:
    """The packages listed in ``packages.txt``, without comments and blank lines."""
    names = []
    for line in PACKAGES_FILE.read_text(encoding="utf-8").splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names


def root_key() -> str:
    """A short hash of everything the root is made from."""
    digest = hashlib.sha256()
    digest.update(f"{SUITE} {MIRROR} {RECIPE_VERSION}\n".encode())
    digest.update("\n".join(sorted(package_names())).encode())
    return digest.hexdigest()[:16]


def root_path() -> Path:
    """Where the root for the current package list lives (it may not exist yet)."""
    return CACHE_DIR / f"root-{root_key()}"


def _customize_commands(root: Path) -> list[list[str]]:
    in_root = ["chroot", str(root)]
    return [
        [*in_root, "systemctl", "disable", *SERVICES_OFF],
        [*in_root, "systemctl", "enable", "systemd-networkd", "ssh"],
        # Each host gets its own identity when it is started (hosts.py).
        ["sh", "-c", f"rm -f {root}/etc/ssh/ssh_host_* && : > {root}/etc/machine-id"],
    ]


def _bootstrap(target: Path) -> None:
    packages = ",".join(package_names())
    if shutil.which("mmdebstrap"):
        command = [
            "mmdebstrap",
            "--variant=minbase",
            f"--include={packages}",
            # The roles' apt tasks read the package lists; keep them.
            "--skip=cleanup/apt/lists",
            SUITE,
            str(target),
            MIRROR,
        ]
    elif shutil.which("debootstrap"):
        command = ["debootstrap", "--variant=minbase", f"--include={packages}", SUITE, str(target), MIRROR]
    else:
        raise ClusterError("neither mmdebstrap nor debootstrap is installed: run `make test-deps` as root")
    result = subprocess.run(  # noqa: S603 (fixed argument list, no shell)
        command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0:
        tail = " | ".join(result.stderr.strip().splitlines()[-3:])
        raise ClusterError(f"building the Debian root failed ({command[0]} exit {result.returncode}): {tail}")
    for customize in _customize_commands(target):
        subprocess.run(customize, check=True, capture_output=True, timeout=120)  # noqa: S603 (fixed list)


def ensure_root() -> tuple[Path, float]:
    """Return the cached root, building it first if needed, and the seconds spent building it."""
    final = root_path()
    if final.is_dir():
        return final, 0.0
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with (CACHE_DIR / "build.lock").open("w") as lock:
        # Two runs at once (two worktrees) build it once: the second waits, then finds it.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.is_dir():
            return final, 0.0
        for stale in CACHE_DIR.glob("building-*"):
            shutil.rmtree(stale, ignore_errors=True)
        started = time.monotonic()
        temporary = CACHE_DIR / f"building-{final.name}"
        try:
            _bootstrap(temporary)
            temporary.rename(final)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)
        return final, time.monotonic() - started
