"""Requests to the edge as the internet sends them: TLS with the site's name, to a given address."""

from __future__ import annotations

import socket
import ssl
import sys
from pathlib import Path

from deploy.cluster.config import LOOPBACK_HTTPS_PORT, STATE_DIR
from tests.deploy.cluster.conftest import Cluster

# Caddy's internal CA (no ACME in a closed network); the edge role keeps Caddy's data in its home.
CADDY_ROOT_CA = "/var/lib/caddy/.local/share/caddy/pki/authorities/local/root.crt"
SITE = "shipyard.test"
REPO_BIN = Path(sys.executable).parent


def fetch_ca(cluster: Cluster) -> Path:
    """Copy the edge's CA root to the run's state directory and return its path."""
    answer = cluster.ssh("edge", f"sudo cat {CADDY_ROOT_CA}")
    assert answer.returncode == 0, f"the edge has no Caddy CA root: {answer.stderr}"
    path = STATE_DIR / "edge-ca.pem"
    path.write_text(answer.stdout, encoding="utf-8")
    return path


def get(ca_file: Path, path: str, request_id: str, *, timeout: float = 10) -> int:
    """GET ``path`` through the edge's port published on loopback; return the status (0: no answer)."""
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with (
            socket.create_connection(("127.0.0.1", LOOPBACK_HTTPS_PORT), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=SITE) as tls,
        ):
            request = f"GET {path} HTTP/1.1\r\nHost: {SITE}\r\nX-Request-ID: {request_id}\r\nConnection: close\r\n\r\n"
            tls.sendall(request.encode())
            status_line = tls.recv(64).split(b"\r\n", 1)[0].decode(errors="replace")
    except OSError:
        return 0
    parts = status_line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
