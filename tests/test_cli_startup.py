"""Start-up failures of `shipyard serve`/`migrate`/`check-config`: one line naming the setting, exit 1.

Each test runs the real console script in a subprocess, as an operator would.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from tests.conftest import DB_KIND
from tests.fixtures.cli import Cli, cli_env
from tests.fixtures.servers import LOOPBACK, free_port

pytestmark = pytest.mark.timeout(240)
PASSWORD = "Sw0rdf1sh-db-pa55"


@pytest.fixture
def bare_cli(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """`shipyard` with no configuration but its own data directory."""
    return Cli(cli_env(tmp_path_factory.mktemp("pycache"), tmp_path), tmp_path)


def _assert_one_line(result_stderr: str, result_stdout: str, *needles: str) -> str:
    output = result_stderr + result_stdout
    assert "Traceback" not in output
    assert PASSWORD not in output
    errors = [line for line in result_stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result_stderr
    for needle in needles:
        assert needle in errors[0]
    return errors[0]


@pytest.mark.parametrize("command", [("migrate",), ("orgs", "list")])
def test_an_unreachable_postgresql_port_is_one_line(bare_cli: Cli, command: tuple[str, ...]) -> None:
    url = f"postgresql://app:{PASSWORD}@{LOOPBACK}:{free_port()}/shipyard"
    result = bare_cli.run(*command, DATABASE_URL=url)
    assert result.returncode == 1
    _assert_one_line(result.stderr, result.stdout, "DATABASE_URL", "nothing answers", "app:***@")


def test_production_serve_checks_the_database_before_it_listens(bare_cli: Cli) -> None:
    result = bare_cli.run(
        "serve",
        "--port",
        str(free_port()),
        SHIPYARD_ENV="production",
        SHIPYARD_SECRET_KEY=secrets.token_urlsafe(48),
        SHIPYARD_PUBLIC_URL="https://app.example.com",
        DATABASE_URL=f"postgres://app:{PASSWORD}@{LOOPBACK}:{free_port()}/shipyard",
    )
    assert result.returncode == 1
    _assert_one_line(result.stderr, result.stdout, "DATABASE_URL", "start PostgreSQL")


@pytest.mark.parametrize(
    "url", [f"mysql://app:{PASSWORD}@db/x", f"postgresql+psycopg://app:{PASSWORD}@db/x", "just-a-host-name"]
)
def test_a_database_url_of_another_form_is_one_line(bare_cli: Cli, url: str) -> None:
    for command in ("migrate", "check-config"):
        result = bare_cli.run(command, DATABASE_URL=url)
        assert result.returncode == 1
        _assert_one_line(result.stderr, result.stdout, "DATABASE_URL", "postgresql://USER:PASSWORD@HOST")


@pytest.mark.parametrize("command", [("migrate",), ("serve", "--port", "1")])
def test_a_missing_sqlite_directory_is_one_line(bare_cli: Cli, tmp_path: Path, command: tuple[str, ...]) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    result = bare_cli.run(*command, DATABASE_URL=f"sqlite:///{missing}/shipyard.db")
    assert result.returncode == 1
    _assert_one_line(result.stderr, result.stdout, "DATABASE_URL", str(missing), "does not exist")
    assert not missing.exists()


def test_a_malformed_setting_is_named_without_its_value(bare_cli: Cli) -> None:
    result = bare_cli.run("check-config", SHIPYARD_PORT="eighty", SHIPYARD_DB_POOL_SIZE=PASSWORD)
    assert result.returncode == 1
    line = _assert_one_line(result.stderr, result.stdout, "SHIPYARD_PORT", "SHIPYARD_DB_POOL_SIZE")
    assert "eighty" not in line


def test_an_issuer_without_a_client_id_refuses_to_start(bare_cli: Cli) -> None:
    result = bare_cli.run("serve", "--port", "1", SHIPYARD_OIDC_ISSUER="https://id.example.com/")
    assert result.returncode == 1
    _assert_one_line(result.stderr, result.stdout, "SHIPYARD_OIDC_CLIENT_ID")


def test_check_config_refuses_the_env_example_secret_key(bare_cli: Cli) -> None:
    example = Path(__file__).parent.parent / "deploy" / "env.example"
    values = dict(line.split("=", 1) for line in example.read_text().splitlines() if line and not line.startswith("#"))
    result = bare_cli.run("check-config", **values)
    assert result.returncode == 1
    _assert_one_line(result.stderr, result.stdout, "SHIPYARD_SECRET_KEY", "placeholder")


@pytest.mark.skipif(DB_KIND != "postgres", reason="runs in the PostgreSQL pass of `make test`")
def test_a_plain_postgresql_url_works(tmp_path: Path, database_urls: tuple[str, str]) -> None:
    plain = database_urls[0].replace("postgresql+asyncpg://", "postgresql://", 1)
    cli = Cli(cli_env(tmp_path / "pycache", tmp_path, DATABASE_URL=plain), tmp_path)
    created = cli.run("orgs", "create", "Plain URL")
    assert created.returncode == 0, created.stderr
    wrong_password = plain.replace("shipyard_app:", "shipyard_app:x", 1) if "shipyard_app:" in plain else None
    if wrong_password is not None:
        refused = cli.run("orgs", "list", DATABASE_URL=wrong_password)
        assert refused.returncode == 1
        _assert_one_line(refused.stderr, refused.stdout, "DATABASE_URL", "password")


def test_version_prints_the_package_version(bare_cli: Cli) -> None:
    from importlib.metadata import version

    result = bare_cli.run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"shipyard {version('shipyard')}"


def test_check_config_warns_when_production_would_only_log_emails(bare_cli: Cli) -> None:
    production = {
        "SHIPYARD_ENV": "production",
        "SHIPYARD_SECRET_KEY": secrets.token_urlsafe(48),
        "SHIPYARD_PUBLIC_URL": "https://app.example.com",
        "DATABASE_URL": "postgresql://app@db.internal/shipyard",
    }
    result = bare_cli.run("check-config", **production)
    assert result.returncode == 0, result.stderr
    assert "warning: SHIPYARD_SMTP_HOST is not set" in result.stderr
    configured = bare_cli.run("check-config", **production, SHIPYARD_SMTP_HOST="smtp.example.com")
    assert configured.returncode == 0, configured.stderr
    assert "warning" not in configured.stderr
