"""One REDIS_URL, a logical database per role: the URL helper every Redis user shares."""

from __future__ import annotations

from shipyard.kit.redis_url import redis_db_url


def test_a_role_url_keeps_credentials_and_options_and_replaces_the_database() -> None:
    assert (
        redis_db_url("redis://:pw@cache:6379/0?socket_keepalive=1", 1) == "redis://:pw@cache:6379/1?socket_keepalive=1"
    )
    assert redis_db_url("rediss://user:pw@cache:6380", 1) == "rediss://user:pw@cache:6380/1"
    assert redis_db_url("redis://cache/0?db=0&health_check_interval=5", 1) == "redis://cache/1?health_check_interval=5"
    assert redis_db_url("unix:///run/valkey/valkey.sock?db=0", 1) == "unix:///run/valkey/valkey.sock?db=1"
