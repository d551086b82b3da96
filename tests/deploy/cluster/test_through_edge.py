"""The app behind the edge: both app hosts serve, one can stop under load, `shipyard verify` passes."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from deploy.cluster.config import STATE_DIR
from tests.deploy.cluster import edge_client
from tests.deploy.cluster.conftest import Cluster

pytestmark = pytest.mark.cluster

REQUESTS = 40
LOAD_SECONDS = 20
# A host that stops is dropped by Caddy's retries (lb_try_duration) and its active health check; a
# request already in flight on it when gunicorn stops may still fail. This bounds those.
MAX_FAILED_SHARE = 0.02


def _served_by(cluster: Cluster, host: str, request_ids: list[str]) -> int:
    logged = cluster.ssh(host, "sudo journalctl -u shipyard-web --no-pager -o cat").stdout
    return sum(1 for request_id in request_ids if request_id in logged)


def test_requests_through_the_edge_reach_both_app_hosts(hardened: Cluster) -> None:
    ca_file = edge_client.fetch_ca(hardened)
    request_ids = [uuid.uuid4().hex for _ in range(REQUESTS)]
    statuses = [edge_client.get(ca_file, "/health", request_id) for request_id in request_ids]
    assert statuses == [200] * REQUESTS
    served = {host: _served_by(hardened, host, request_ids) for host in ("app1", "app2")}
    assert sum(served.values()) == REQUESTS, served
    assert all(served.values()), f"one app host served nothing: {served}"


def test_stopping_one_app_hosts_web_under_steady_load_fails_few_requests(hardened: Cluster) -> None:
    ca_file = edge_client.fetch_ca(hardened)
    statuses: list[int] = []
    stop_loading = threading.Event()

    def load() -> None:
        deadline = time.monotonic() + LOAD_SECONDS
        while not stop_loading.is_set() and time.monotonic() < deadline:
            statuses.append(edge_client.get(ca_file, "/health", uuid.uuid4().hex))

    loader = threading.Thread(target=load)
    loader.start()
    try:
        time.sleep(LOAD_SECONDS / 4)
        stopped = hardened.ssh("app2", "sudo systemctl stop shipyard-web")
        assert stopped.returncode == 0, stopped.stderr
        loader.join(LOAD_SECONDS * 2)
    finally:
        stop_loading.set()
        loader.join(LOAD_SECONDS)
        hardened.ssh("app2", "sudo systemctl start shipyard-web")
    failed = sum(1 for status in statuses if status != 200)
    note = f"{failed} of {len(statuses)} requests failed while app2's web stopped"
    (STATE_DIR / "failover-note").write_text(note + "\n", encoding="utf-8")
    print(note)  # noqa: T201 (the closing note the issue asks for)
    assert len(statuses) > 20, note
    assert failed <= len(statuses) * MAX_FAILED_SHARE, note


def test_shipyard_verify_passes_against_the_edge_from_the_internet_host(hardened: Cluster) -> None:
    ca_file = edge_client.fetch_ca(hardened)
    edge = hardened.host("edge")
    hosts_file = STATE_DIR / "internet-hosts"
    hosts_file.write_text(f"127.0.0.1 localhost\n{edge.public_address} {edge_client.SITE}\n", encoding="utf-8")
    shipyard = str(edge_client.REPO_BIN / "shipyard")
    # The internet host resolves the site to the edge's public address, as DNS would.
    verify = hardened.from_internet(
        "unshare", "--mount", "sh", "-c", 'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts_file),
        shipyard, "verify", f"https://{edge_client.SITE}", "--ca-file", str(ca_file),
        timeout=180,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-1000:]
