"""The `shipyard` command, run as a subprocess against the test's own database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer

from shipyard.cli import parse_duration
from shipyard.identity import token_format
from shipyard.models import Role
from tests.conftest import DB_KIND
from tests.fixtures.cli import Cli, cli_env
from tests.fixtures.records import audit_events, token_row
from tests.fixtures.servers import free_port
from tests.fixtures.tenants import Tenant, add_member, issue_token

pytestmark = pytest.mark.timeout(240)
TOKEN = re.compile(r"shp_[0-9A-Za-z]{32}_[0-9A-Za-z]{6}")


@pytest.fixture
def cli(database_urls: tuple[str, str], tmp_path: Path, pycache: Path) -> Cli:
    """`shipyard` configured for this test's database (the app role's URL)."""
    return Cli(cli_env(pycache, tmp_path, SHIPYARD_DATABASE_URL=database_urls[0]), tmp_path)


@pytest.fixture
async def fresh_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the in-process app on the same database as the CLI."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
        yield http


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_orgs_create_then_list_shows_the_organisation(cli: Cli) -> None:
    created = cli.run("orgs", "create", "Initech Labs")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "created organisation initech-labs"
    listed = cli.run("orgs", "list")
    assert listed.returncode == 0, listed.stderr
    [row] = [line.split("\t") for line in listed.stdout.splitlines()]
    assert row[0] == "initech-labs"
    assert row[1].startswith("org_")
    assert row[2] == "Initech Labs"
    again = cli.run("orgs", "create", "Initech Labs")
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert "Traceback" not in again.stderr


async def test_tokens_create_prints_a_working_token_that_list_never_shows(
    cli: Cli, app: Any, fresh_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = cli.run(
        "tokens", "create", "--org", "acme", "--name", "ci", "--scopes", "customers:read,customers:write",
        "--expires-in", "30d",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert token_format.is_well_formed(secret)

    me = await fresh_client.get("/api/v1/me", headers=_bearer(secret))
    assert me.status_code == 200, me.text
    assert me.json()["organization"]["slug"] == "acme"
    assert me.json()["scopes"] == ["customers:read", "customers:write"]
    customer = await fresh_client.post(
        "/api/v1/customers", json={"name": "Ada", "email": "ada@example.com"}, headers=_bearer(secret)
    )
    assert customer.status_code == 201, customer.text
    row = await token_row(app, me.json()["token_id"])
    assert row.expires_at is not None
    assert abs(row.expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=5)

    listed = cli.run("tokens", "list", "--org", "acme")
    assert listed.returncode == 0, listed.stderr
    assert row.id in listed.stdout
    assert tenant.token_id in listed.stdout
    assert row.display_prefix in listed.stdout
    assert TOKEN.search(listed.stdout) is None
    assert secret.split("_")[1] not in listed.stdout + listed.stderr


async def test_tokens_create_refuses_scopes_beyond_the_creators_role(cli: Cli, app: Any, tenant: Tenant) -> None:
    await add_member(app, tenant, "viewer@acme.example", Role.VIEWER)
    refused = cli.run(
        "tokens", "create", "--org", "acme", "--name", "x", "--scopes", "customers:read,customers:write",
        "--user", "viewer@acme.example",
    )  # fmt: skip
    assert refused.returncode == 1
    assert "customers:write" in refused.stderr
    assert TOKEN.search(refused.stdout + refused.stderr) is None
    assert "Traceback" not in refused.stderr


@pytest.mark.parametrize(
    ("text", "lifetime"),
    [("30d", timedelta(days=30)), ("12h", timedelta(hours=12)), ("90m", timedelta(minutes=90))],
)
def test_expires_in_accepts_days_hours_and_minutes(text: str, lifetime: timedelta) -> None:
    assert parse_duration(text) == lifetime


@pytest.mark.parametrize("text", ["0d", "", "30", "1w", "-1d", "1.5h"])
def test_expires_in_refuses_anything_else_including_zero(text: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_duration(text)


async def test_tokens_revoke_stops_a_running_app_within_the_cache_ttl(
    cli: Cli, app: Any, fresh_client: httpx.AsyncClient, tenant: Tenant
) -> None:
    secret, token_id = await issue_token(app, tenant, ["customers:read"])
    assert (await fresh_client.get("/api/v1/me", headers=_bearer(secret))).status_code == 200

    revoked = cli.run("tokens", "revoke", token_id, "--org", "acme")
    done = time.monotonic()
    assert revoked.returncode == 0, revoked.stderr
    assert (await token_row(app, token_id)).revoked_at is not None
    while (response := await fresh_client.get("/api/v1/me", headers=_bearer(secret))).status_code == 200:
        assert time.monotonic() - done <= 5.5, "the revoked token is still accepted"
        await asyncio.sleep(0.1)
    assert response.status_code == 401
    [event] = await audit_events(app, action="token.revoked")
    assert (event.target_id, event.actor_type) == (token_id, "system")


async def test_migrate_creates_the_schema_in_an_empty_sqlite_file(tmp_path: Path, pycache: Path) -> None:
    database = tmp_path / "empty.db"
    database.touch()
    cli = Cli(cli_env(pycache, tmp_path, SHIPYARD_DATABASE_URL=f"sqlite+aiosqlite:///{database}"), tmp_path)
    migrated = cli.run("migrate")
    assert migrated.returncode == 0, migrated.stderr
    with sqlite3.connect(database) as connection:
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        [(revision,)] = connection.execute("SELECT version_num FROM alembic_version").fetchall()
    assert {"organizations", "users", "memberships", "api_tokens", "audit_events"} <= tables
    assert revision


async def test_check_config_redacts_every_secret(tmp_path: Path, pycache: Path) -> None:
    secret_key = "k" * 16 + "VerySecretSigningKey-1234567890"
    password = "Hunter2-Pa55word"
    cli = Cli(
        cli_env(
            pycache,
            tmp_path,
            SHIPYARD_ENV="production",
            SHIPYARD_SECRET_KEY=secret_key,
            SHIPYARD_PUBLIC_URL="https://app.example.com",
            DATABASE_URL=f"postgresql+asyncpg://shipyard_app:{password}@db.internal:5432/shipyard",
            REDIS_URL="redis://:R3disPa55@cache.internal:6379/0",
        ),
        tmp_path,
    )
    shown = cli.run("check-config")
    assert shown.returncode == 0, shown.stderr
    output = shown.stdout + shown.stderr
    for secret in (secret_key, password, "R3disPa55"):
        assert secret not in output
    config = json.loads(shown.stdout)
    assert config["env"] == "production"
    assert config["secret_key"] == "**********"
    assert config["database_url"] == "postgresql+asyncpg://shipyard_app:***@db.internal:5432/shipyard"
    assert config["redis_url"] == "redis://:***@cache.internal:6379/0"


async def test_production_serve_without_required_settings_names_each(tmp_path: Path, pycache: Path) -> None:
    cli = Cli(cli_env(pycache, tmp_path, SHIPYARD_ENV="production"), tmp_path)
    refused = cli.run("serve", "--port", str(free_port()))
    assert refused.returncode != 0
    assert "SHIPYARD_SECRET_KEY" in refused.stderr
    assert "DATABASE_URL" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout
    assert not (tmp_path / "shipyard.db").exists()


def _serve_database(database_urls: tuple[str, str], tmp_path: Path) -> str:
    """On SQLite a brand-new file (as on a fresh clone); on PostgreSQL the migrated, empty database."""
    if DB_KIND == "postgres":
        return database_urls[0]
    return f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'shipyard.db'}"


async def _wait_until_up(base: str) -> None:
    async with asyncio.timeout(60), httpx.AsyncClient(base_url=base) as http:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health")).status_code == 200:
                    return
            await asyncio.sleep(0.2)


async def test_first_serve_prints_a_bootstrap_token_once(
    database_urls: tuple[str, str], tmp_path: Path, pycache: Path
) -> None:
    (tmp_path / "fresh").mkdir()
    port = free_port()
    cli = Cli(cli_env(pycache, tmp_path, SHIPYARD_DATABASE_URL=_serve_database(database_urls, tmp_path)), tmp_path)

    first = cli.start("serve", "--port", str(port))
    try:
        banner = first.read_until(lambda line: "/api/v1/me" in line, timeout=90)
        secret = TOKEN.findall("\n".join(banner))[0]
        [curl] = [line for line in banner if line.strip().startswith("curl") and "/api/v1/me" in line]
        base = curl.split()[-1].removesuffix("/api/v1/me")
        assert base == f"http://127.0.0.1:{port}"
        await _wait_until_up(base)
        async with httpx.AsyncClient(base_url=base, headers=_bearer(secret)) as http:
            me = await http.get("/api/v1/me")
            assert me.status_code == 200, me.text
            assert me.json()["organization"]["slug"] == "default"
            assert "tokens:write" in me.json()["scopes"]
            created = await http.post("/api/v1/customers", json={"name": "Ada", "email": "ada@example.com"})
            assert created.status_code == 201, created.text
    finally:
        output = first.stop()
    assert output.count(secret) == 2  # the token line and the `export` line of the banner, nowhere else

    second = cli.start("serve", "--port", str(port))
    try:
        await _wait_until_up(f"http://127.0.0.1:{port}")
    finally:
        output = second.stop()
    assert TOKEN.search(output) is None
    assert "First run" not in output


async def test_list_commands_print_stable_json(cli: Cli, tenant: Tenant) -> None:
    created = cli.run("tokens", "create", "--org", "acme", "--name", "ci", "--scopes", "customers:read")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    orgs = cli.run("orgs", "list", "--json")
    assert orgs.returncode == 0, orgs.stderr
    [acme] = [org for org in json.loads(orgs.stdout) if org["slug"] == "acme"]
    assert set(acme) == {"id", "slug", "name", "created_at"}
    assert acme["id"] == tenant.organization_id
    tokens = cli.run("tokens", "list", "--org", "acme", "--json")
    assert tokens.returncode == 0, tokens.stderr
    rows = json.loads(tokens.stdout)
    [ci] = [row for row in rows if row["name"] == "ci"]
    assert set(ci) == {
        "id", "prefix", "name", "scopes", "state", "created_at", "expires_at", "revoked_at", "last_used_at"
    }  # fmt: skip
    assert ci["scopes"] == ["customers:read"]
    assert ci["state"] == "active"
    assert secret not in tokens.stdout
    revoked = cli.run("tokens", "revoke", ci["id"], "--org", "acme")
    assert revoked.returncode == 0, revoked.stderr
    after = json.loads(cli.run("tokens", "list", "--org", "acme", "--json").stdout)
    assert next(row for row in after if row["id"] == ci["id"])["state"] == "revoked"
    missing = cli.run("tokens", "list", "--org", "no-such-org", "--json")
    assert missing.returncode == 1
    assert missing.stdout == ""
    assert "no-such-org" in missing.stderr
