"""One cluster per machine: whoever starts or stops it holds a lock, a test session for its whole run.

The namespace and the addresses are fixed, so two runs at once would tear down each other's hosts.
A cluster left running by ``make cluster`` holds no lock: the next ``up`` replaces it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from deploy.cluster.config import ClusterError

LOCK_FILE = Path(os.environ.get("SHIPYARD_CLUSTER_LOCK", "/run/shipyard-cluster.lock"))
_held: list[IO[str]] = []


def hold() -> None:
    """Take the machine's cluster lock for the rest of this process (a no-op when already held)."""
    if _held:
        return
    handle = LOCK_FILE.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise ClusterError(f"the cluster is in use by {holder}; wait for it to finish") from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    _held.append(handle)


def release() -> None:
    """Let another process start or stop the cluster."""
    while _held:
        handle = _held.pop()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()
