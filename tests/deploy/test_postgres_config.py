"""deploy/postgres: the config snippets parse on a real PostgreSQL, and the Compose init script works."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.servers import PostgresServer, ServerError, find_pg_bin

REPO = Path(__file__).resolve().parents[2]
POSTGRES = REPO / "deploy" / "postgres"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


def _install(cluster: PostgresServer, name: str, target: str) -> None:
    destination = cluster.data_dir / target
    shutil.copyfile(POSTGRES / name, destination)
    if os.geteuid() == 0:
        account = pwd.getpwnam(cluster.superuser)
        os.chown(destination, account.pw_uid, account.pw_gid)


def test_postgresql_conf_snippet_has_no_unknown_or_invalid_setting(cluster: PostgresServer) -> None:
    _install(cluster, "postgresql.conf", "shipyard.conf")
    with (cluster.data_dir / "postgresql.conf").open("a") as main:
        main.write("\ninclude 'shipyard.conf'\n")
    # pg_file_settings re-reads the files now: a typo or a bad value shows up as an error.
    rows = cluster.psql(
        "SELECT name || '=' || setting || '|' || coalesce(error, '') FROM pg_file_settings "
        "WHERE sourcefile LIKE '%shipyard.conf'"
    ).splitlines()
    settings = dict(row.split("|")[0].split("=", 1) for row in rows)
    errors = [row for row in rows if row.split("|", 1)[1] not in {"", "setting could not be applied"}]
    assert errors == []
    assert settings["password_encryption"] == "scram-sha-256"
    assert settings["listen_addresses"] == "localhost"
    assert settings["ssl_min_protocol_version"] == "TLSv1.2"


def _snippet_settings() -> dict[str, str]:
    settings: dict[str, str] = {}
    for raw in (POSTGRES / "postgresql.conf").read_text().splitlines():
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if "=" in line:
            name, value = (part.strip() for part in line.split("=", 1))
            settings[name] = value.strip("'")
    return settings


def test_a_fresh_cluster_starts_with_the_snippet() -> None:
    # This host, like a fresh one, may have no snakeoil certificate: a snippet that names files the
    # distribution did not create keeps PostgreSQL from starting at all.
    settings = {key: value for key, value in _snippet_settings().items() if key not in {"listen_addresses", "port"}}
    assert "log_line_prefix" in settings
    with PostgresServer(settings=settings) as server:
        assert server.psql("SHOW ssl_min_protocol_version").strip() == "TLSv1.2"


def test_the_app_role_can_create_no_object_not_even_a_temporary_one() -> None:
    statements = [
        "CREATE TEMP TABLE intruder (id int)",
        "CREATE TEMPORARY VIEW intruder_view AS SELECT 1",
        "CREATE TABLE intruder (id int)",
    ]
    with PostgresServer() as server:
        server.psql((POSTGRES / "01-roles.sql").read_text())
        server.psql((POSTGRES / "02-grants.sql").read_text(), dbname="shipyard")
        for ddl in statements:
            with pytest.raises(ServerError, match="permission denied"):
                server.psql(f"SET ROLE shipyard_app; {ddl}", dbname="shipyard")
        # The migrator owns the database and keeps every right (Alembic needs none of these, but
        # the revocation must not reach the owner).
        server.psql("SET ROLE shipyard_migrator; CREATE TEMP TABLE allowed (id int)", dbname="shipyard")


def test_pg_hba_allows_only_scram_and_rejects_everything_else(cluster: PostgresServer) -> None:
    _install(cluster, "pg_hba.conf", "pg_hba.conf")
    rows = [
        row.split("|")
        for row in cluster.psql(
            "SELECT type || '|' || coalesce(address, '') || '|' || auth_method || '|' || coalesce(error, '') "
            "FROM pg_hba_file_rules ORDER BY line_number"
        ).splitlines()
    ]
    # The test cluster has no TLS, so PostgreSQL notes that hostssl lines cannot match; nothing else.
    assert [row for row in rows if row[3] and "SSL is disabled" not in row[3]] == []
    assert {row[2] for row in rows} <= {"peer", "scram-sha-256", "reject"}
    # Without TLS, only loopback may connect at all; the network gets hostssl or nothing.
    plain_from_network = [row for row in rows if row[0] == "host" and row[1] not in {"127.0.0.1", "::1"}]
    assert plain_from_network
    assert {row[2] for row in plain_from_network} == {"reject"}


def test_compose_init_script_creates_roles_with_scram_passwords(cluster: PostgresServer, tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "app_db_password").write_text("app'pw\n")
    (secrets / "migrator_db_password").write_text("migrator pw")
    result = subprocess.run(  # noqa: S603 - the script under test, fixed arguments
        ["bash", str(POSTGRES / "docker-init.sh")],  # noqa: S607 - the script under test
        env={
            "PATH": f"{Path(find_pg_bin('psql')).parent}:/usr/bin:/bin",
            "POSTGRES_USER": cluster.superuser,
            "PGHOST": cluster.host,
            "PGPORT": str(cluster.port),
            "SHIPYARD_SQL_DIR": str(POSTGRES),
            "SHIPYARD_SECRETS_DIR": str(secrets),
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    verifiers = cluster.psql(
        "SELECT rolname || ' ' || left(rolpassword, 14) FROM pg_authid WHERE rolname LIKE 'shipyard_%' ORDER BY 1"
    ).split("\n")
    assert verifiers[:2] == ["shipyard_app SCRAM-SHA-256$", "shipyard_migrator SCRAM-SHA-256$"]
