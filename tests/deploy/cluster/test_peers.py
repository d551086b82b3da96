"""The private network's firewall rules, checked from the hosts themselves over SSH.

The database and the cache answer the app hosts and nobody else; the clients are real ones
(``pg_isready``, ``redis-cli``), so "accepts" means the server spoke its protocol.
"""

from __future__ import annotations

import pytest

from tests.deploy.cluster.conftest import Cluster

pytestmark = pytest.mark.cluster


def _pg_isready(cluster: Cluster, source: str) -> str:
    db = cluster.host("db").private_address
    return cluster.ssh(source, f"pg_isready -h {db} -p 5432 -t 5; echo exit=$?").stdout


def _redis_answer(cluster: Cluster, source: str) -> str:
    cache = cluster.host("cache").private_address
    # Without the password a real Redis still answers (NOAUTH); a firewall drop answers nothing.
    return cluster.ssh(source, f"timeout 8 redis-cli -h {cache} -p 6379 PING 2>&1; echo exit=$?").stdout


def test_postgresql_accepts_an_app_host_and_refuses_the_cache_host(hardened: Cluster) -> None:
    for app in ("app1", "app2"):
        assert "accepting connections" in _pg_isready(hardened, app)
    refused = _pg_isready(hardened, "cache")
    assert "accepting connections" not in refused
    assert "exit=2" in refused  # pg_isready: no response


def test_redis_accepts_an_app_host_and_refuses_the_database_host(hardened: Cluster) -> None:
    for app in ("app1", "app2"):
        answer = _redis_answer(hardened, app)
        assert "PONG" in answer or "NOAUTH" in answer, answer
    refused = _redis_answer(hardened, "db")
    assert "PONG" not in refused
    assert "NOAUTH" not in refused
