"""The drain marker: while `<data dir>/draining` exists, /ready answers 503 `draining`.

An edge that health-checks /ready (Caddyfile.multi, a cloud load balancer) then stops sending new
requests to this host before it restarts, while the host still answers the requests it has. The
marker is a file so that every worker of every process on the host sees it at once, with no IPC,
and it survives the restart it is meant for until the operator (or the rolling deploy) removes it.
"""

from __future__ import annotations

from pathlib import Path

MARKER = "draining"


def marker(data_dir: Path) -> Path:
    """Where the marker lives for this data directory."""
    return data_dir / MARKER


def is_draining(data_dir: Path) -> bool:
    """Whether the host is draining."""
    return marker(data_dir).exists()


def set_draining(data_dir: Path, *, on: bool) -> None:
    """Create or remove the marker (both idempotent)."""
    path = marker(data_dir)
    if on:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    else:
        path.unlink(missing_ok=True)
