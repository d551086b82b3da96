"""The database roles the Ansible roles create, checked on the cluster's PostgreSQL.

The read-only MCP role (identity host) reads everything and writes exactly two things: its audit
events and a token's last use. PostgreSQL itself enforces that, whatever the MCP code does.
"""

from __future__ import annotations

import shlex

import pytest

from tests.deploy.cluster.conftest import Cluster

pytestmark = pytest.mark.cluster

# The MCP unit's own settings, turned into a libpq URL that verifies the database's certificate.
MCP_PSQL = (
    "sudo sh -c '. /etc/shipyard/mcp.env; "
    'url=$(printf %s "$DATABASE_URL" | sed -e s/+asyncpg// -e s/ssl=verify-full/sslmode=verify-full/); '
    'exec psql -X -At -v ON_ERROR_STOP=1 "$url&sslrootcert=/etc/shipyard/db-ca.crt" -c "$0"\''
)


def _as_mcp(cluster: Cluster, sql: str) -> tuple[int, str]:
    result = cluster.ssh("identity", f"{MCP_PSQL} {shlex.quote(sql)}")
    return result.returncode, result.stdout + result.stderr


def _as_superuser(cluster: Cluster, sql: str) -> str:
    result = cluster.ssh("db", f"sudo -u postgres psql -X -At -d shipyard -c {shlex.quote(sql)}")
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_mcp_role_reads_over_tls(hardened: Cluster) -> None:
    code, output = _as_mcp(hardened, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    assert code == 0, output
    assert output.strip() == "t"
    code, output = _as_mcp(hardened, "SELECT count(*) FROM organizations")
    assert code == 0, output


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO organizations (id, slug, name) VALUES ('org_x', 'x', 'x')",
        "UPDATE customers SET name = 'x'",
        "DELETE FROM customers",
        "UPDATE api_tokens SET name = 'x'",
        "DELETE FROM api_tokens",
        "UPDATE audit_events SET ip = '6.6.6.6'",
        "DELETE FROM audit_events",
        "TRUNCATE customers",
        "CREATE TABLE intruder (id int)",
        "CREATE TEMP TABLE intruder (id int)",
    ],
)
def test_the_mcp_role_cannot_change_anything_else(hardened: Cluster, statement: str) -> None:
    code, output = _as_mcp(hardened, statement)
    assert code != 0
    assert "permission denied" in output, output


def test_the_mcp_role_may_record_a_tokens_last_use(hardened: Cluster) -> None:
    code, output = _as_mcp(
        hardened, "UPDATE api_tokens SET last_used_at = now(), last_used_ip = '10.0.0.1' WHERE id = 'none'"
    )
    assert code == 0, output


def test_no_table_but_the_audit_log_takes_writes_from_the_mcp_role(hardened: Cluster) -> None:
    writable = _as_superuser(
        hardened,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') "
        "AND has_table_privilege('shipyard_mcp', c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE') ORDER BY 1",
    )
    assert writable.split() == ["audit_events"]
    updatable_columns = _as_superuser(
        hardened,
        "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = 'api_tokens'::regclass AND a.attnum > 0 "
        "AND NOT a.attisdropped AND has_column_privilege('shipyard_mcp', 'api_tokens', a.attname, 'UPDATE') ORDER BY 1",
    )
    assert updatable_columns.split() == ["last_used_at", "last_used_ip", "updated_at"]


def test_the_app_role_writes_rows_but_no_schema(hardened: Cluster) -> None:
    tables = _as_superuser(
        hardened,
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
        "AND NOT has_table_privilege('shipyard_app', schemaname || '.' || tablename, 'SELECT')",
    )
    assert tables.strip() == "0"
    assert _as_superuser(hardened, "SELECT has_schema_privilege('shipyard_app', 'public', 'CREATE')").strip() == "f"
    assert _as_superuser(hardened, "SELECT has_database_privilege('shipyard_app', 'shipyard', 'TEMP')").strip() == "f"
