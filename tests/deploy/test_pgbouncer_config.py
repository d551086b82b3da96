"""deploy/pgbouncer: the settings the app's correctness and the crash-recovery budget depend on."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PGBOUNCER = REPO / "deploy" / "pgbouncer"


@pytest.fixture(scope="module")
def settings() -> configparser.SectionProxy:
    config = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    config.read(PGBOUNCER / "pgbouncer.ini")
    return config["pgbouncer"]


def test_transaction_pooling_with_scram(settings: configparser.SectionProxy) -> None:
    assert settings["pool_mode"] == "transaction"
    assert settings["auth_type"] == "scram-sha-256"


def test_server_login_retry_is_short_so_a_backend_crash_heals_fast(settings: configparser.SectionProxy) -> None:
    # The default (15 s) stalls the first query after a crash far beyond the 2 s recovery budget.
    assert int(settings["server_login_retry"]) <= 1


def test_statements_prepared_in_a_transaction_are_dropped_after_it(settings: configparser.SectionProxy) -> None:
    assert settings["server_reset_query"] == "DEALLOCATE ALL"
    assert settings["server_reset_query_always"] == "1"


def test_listens_privately(settings: configparser.SectionProxy) -> None:
    assert settings["listen_addr"] in {"127.0.0.1", "localhost"}


def test_compose_variant_includes_the_production_settings() -> None:
    text = (PGBOUNCER / "compose.ini").read_text()
    assert "%include /etc/pgbouncer/shipyard.ini" in text
    assert "pool_mode" not in text, "compose.ini must not override the pooling settings"
