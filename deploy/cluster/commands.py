"""Running the harness's commands: one-line errors, bounded time, inside the namespace when asked."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

from deploy.cluster.config import NETNS, ClusterError

DEFAULT_TIMEOUT_SECONDS = 60


def netns_path(name: str = NETNS) -> Path:
    """The bind mount ``ip netns add`` makes for a namespace."""
    return Path("/run/netns") / name


def in_netns(command: Sequence[str], name: str = NETNS) -> list[str]:
    """``command`` run inside namespace ``name``.

    ``nsenter --net`` and not ``ip netns exec``: the latter remounts ``/sys``, which hides the cgroup
    tree systemd-nspawn needs.
    """
    return ["nsenter", f"--net={netns_path(name)}", *command]


def run(
    command: Sequence[str],
    *,
    what: str,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    check: bool = True,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``command``; on failure raise a one-line :class:`ClusterError` that says ``what`` failed."""
    try:
        result = subprocess.run(  # noqa: S603 (argument lists built by the harness, no shell)
            list(command), capture_output=True, text=True, timeout=timeout, check=False, input=input_text
        )
    except FileNotFoundError as error:
        raise ClusterError(f"{what}: {command[0]} is not installed (run `make test-deps` as root)") from error
    except subprocess.TimeoutExpired as error:
        raise ClusterError(f"{what}: no answer within {timeout:.0f} s ({' '.join(command[:3])} ...)") from error
    if check and result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        last = detail[-1] if detail else "no output"
        raise ClusterError(f"{what} failed (exit {result.returncode}): {last}")
    return result
