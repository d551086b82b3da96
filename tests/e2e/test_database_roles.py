"""The app's database role, as the app reaches it (through PgBouncer, with SCRAM): rows only, no DDL."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.conftest import Stack
from tests.fixtures.servers import find_pg_bin

pytestmark = [pytest.mark.e2e, pytest.mark.postgres_only]


def _as_app_role(stack: Stack, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed binary, SQL as an argument
        [find_pg_bin("psql"), "-X", "-v", "ON_ERROR_STOP=1", "-At", stack.app_dsn(), "-c", sql],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5"},
    )


def test_app_role_reads_rows_through_pgbouncer(stack: Stack) -> None:
    result = _as_app_role(stack, "SELECT count(*) FROM organizations")
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 1


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TABLE intruder (id int)",
        "ALTER TABLE customers ADD COLUMN intruder int",
        "DROP TABLE customers",
        "TRUNCATE customers",
        "CREATE TEMP TABLE intruder (id int)",
    ],
)
def test_app_role_cannot_change_the_schema(stack: Stack, ddl: str) -> None:
    result = _as_app_role(stack, ddl)
    assert result.returncode != 0
    assert "permission denied" in result.stderr or "must be owner" in result.stderr, result.stderr


@pytest.mark.parametrize("statement", ["UPDATE audit_events SET ip = '6.6.6.6'", "DELETE FROM audit_events"])
def test_app_role_cannot_rewrite_the_audit_log(stack: Stack, statement: str) -> None:
    result = _as_app_role(stack, statement)
    assert result.returncode != 0
    assert "permission denied" in result.stderr, result.stderr


def test_wrong_password_is_refused_by_pgbouncer(stack: Stack) -> None:
    result = subprocess.run(  # noqa: S603 - fixed binary
        [find_pg_bin("psql"), "-X", "-At", stack.app_dsn().replace(stack.app_password, "wrong"), "-c", "SELECT 1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={"PATH": "/usr/bin:/bin", "PGCONNECT_TIMEOUT": "5"},
    )
    assert result.returncode != 0
    assert "password authentication failed" in result.stderr or "SASL" in result.stderr, result.stderr
