"""`shipyard db copy`: an embedded database full of awkward values moves to PostgreSQL, and the API
answers the same on both."""

from __future__ import annotations

import itertools
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shipyard.app import create_app
from shipyard.models import AuthSession
from shipyard.settings import Settings
from tests.conftest import POSTGRES_SQL
from tests.fixtures.cli import Cli, cli_env
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.seed import seed_acme
from tests.fixtures.servers import PostgresServer
from tests.fixtures.tenants import Tenant, create_tenant

pytestmark = [pytest.mark.postgres_only, pytest.mark.timeout(300)]
_numbers = itertools.count()
LARGEST_TOTAL = 999_999_999_990_000  # 10,000 x 99,999,999,999: just under the API's ceiling


def _settings(url: str, data_dir: Path) -> Settings:
    return Settings.model_validate(
        {
            "env": "test",
            "log_format": "json",
            "data_dir": data_dir,
            "database_url": url,
            "jobs_embedded": False,
            "token_last_used_resolution_s": 3600,
        }
    )


@pytest.fixture
def target(postgres_server: PostgresServer) -> Iterator[tuple[str, str]]:
    """An empty PostgreSQL database: (migrator URL, app URL)."""
    name = f"copy_{os.getpid()}_{next(_numbers)}"
    postgres_server.psql(f"CREATE DATABASE {name} OWNER shipyard_migrator")
    postgres_server.psql((POSTGRES_SQL / "02-grants.sql").read_text(), dbname=name)
    yield postgres_server.dsn(name, user="shipyard_migrator"), postgres_server.dsn(name, user="shipyard_app")
    postgres_server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def copy_cli(database_file: Path, tmp_path: Path) -> Cli:
    """`shipyard` with the test's SQLite file as its database."""
    env = cli_env(
        tmp_path / "pycache", database_file.parent, SHIPYARD_DATABASE_URL=f"sqlite+aiosqlite:///{database_file}"
    )
    return Cli(env, tmp_path)


@pytest.fixture
async def awkward(database_file: Path) -> Tenant:
    """Every awkward value Shipyard can store, written through the API and, where only SQL can, raw."""
    app = create_app(_settings(f"sqlite+aiosqlite:///{database_file}", database_file.parent))
    async with running_lifespan(app):
        tenant = await create_tenant(app, "Ācme 🚢", "acme")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            seeded = await seed_acme(client, tenant)  # archived customer, invoices in every status
            headers = {**tenant.headers, "Idempotency-Key": "copy-test-1"}
            body = {
                "name": "שלום עליכם — مرحبا 👩‍👩‍👧",
                "email": "rtl@example.com",
                "metadata": {"emoji": "🚢⚓", "empty": "", "nested_json": '{"a": [1, {"b": "ü"}]}'},
            }
            created = await client.post("/api/v1/customers", json=body, headers=headers)
            assert created.status_code == 201, created.text  # an idempotency record, kept with its response
            largest = {
                "currency": "EUR",
                "line_items": [{"description": "🧾", "quantity": 10_000, "unit_amount": 99_999_999_999}],
            }
            invoice = await client.post(
                f"/api/v1/customers/{created.json()['id']}/invoices", json=largest, headers=tenant.headers
            )
            assert invoice.json()["total"] == LARGEST_TOTAL
        async with app.state.database.writer() as session:
            now = datetime.now(UTC)
            session.add(
                AuthSession(
                    user_id=tenant.user_id,
                    organization_id=tenant.organization_id,
                    provider="google",
                    remember=True,
                    expires_at=now + timedelta(days=30),
                    user_agent="Mozilla/5.0 ☃",
                )
            )
            session.add(
                AuthSession(
                    user_id=tenant.user_id,
                    organization_id=tenant.organization_id,
                    provider=None,
                    remember=False,
                    expires_at=now,
                    revoked_at=now,
                    revoked_reason="logout",
                )
            )
            await session.commit()
    with sqlite3.connect(database_file) as connection:
        # The shapes pgloader gets wrong: a CURRENT_TIMESTAMP default (no fraction), an epoch number.
        connection.execute(
            "UPDATE customers SET updated_at = CURRENT_TIMESTAMP WHERE id = ?", (seeded.customers["alice"],)
        )
        # Shipyard itself cannot read an epoch number back on SQLite, so it sits where no API reads it.
        connection.execute("UPDATE auth_sessions SET revoked_at = 1700000000 WHERE revoked_at IS NOT NULL")
        connection.execute("UPDATE users SET email_verified = 1")  # 0/1 booleans, as SQLite keeps them
    connection.close()
    return tenant


async def _answers(settings: Settings, tenant: Tenant) -> dict[str, Any]:
    """Every read endpoint's answer, following IDs from the lists to the items."""
    app = create_app(settings)
    answers: dict[str, Any] = {}
    async with (
        running_lifespan(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):

        async def get(path: str) -> Any:
            response = await client.get(path, headers=tenant.headers)
            answers[path] = (response.status_code, response.headers.get("etag"), _without_usage(response.json()))
            return response.json()

        for path in (
            "/api/v1/me",
            "/api/v1/tokens?limit=100",
            "/api/v1/events?limit=100",
            "/api/v1/errors?limit=100",
            "/api/v1/audit-events?limit=100",
            "/api/v1/webhook-endpoints?limit=100",
        ):
            await get(path)
        for customer in (await get("/api/v1/customers?limit=100"))["data"]:
            await get(f"/api/v1/customers/{customer['id']}")
            await get(f"/api/v1/customers/{customer['id']}/invoices?limit=100")
        for invoice in (await get("/api/v1/invoices?limit=100"))["data"]:
            await get(f"/api/v1/customers/{invoice['customer_id']}/invoices/{invoice['id']}")
    return answers


def _without_usage(value: Any) -> Any:
    """Drop when a token was last used: each database records its own use during the comparison."""
    if isinstance(value, dict):
        return {k: _without_usage(v) for k, v in value.items() if k not in {"last_used_at", "last_used_ip"}}
    if isinstance(value, list):
        return [_without_usage(v) for v in value]
    return value


async def test_the_copy_answers_every_read_endpoint_like_the_source(
    awkward: Tenant,
    copy_cli: Cli,
    database_file: Path,
    target: tuple[str, str],
    tmp_path: Path,
    postgres_server: PostgresServer,
) -> None:
    copied = copy_cli.run("db", "copy", "--to", target[0])
    assert copied.returncode == 0, copied.stderr
    assert "customers: " in copied.stderr
    assert "rows verified (count and checksum)" in copied.stderr
    assert "every table verified" in copied.stdout
    source = await _answers(_settings(f"sqlite+aiosqlite:///{database_file}", tmp_path), awkward)
    copy = await _answers(_settings(target[1], tmp_path), awkward)
    assert copy.keys() == source.keys()
    for path, answer in source.items():
        assert copy[path] == answer, path
    customers = source["/api/v1/customers?limit=100"][2]["data"]
    assert any(c["name"].startswith("שלום") and c["metadata"]["empty"] == "" for c in customers)
    assert any(c["updated_at"].endswith(":00Z") or ".000000" not in c["updated_at"] for c in customers)
    name = target[0].rsplit("/", 1)[1]
    sessions = postgres_server.psql(
        "SELECT remember, revoked_at AT TIME ZONE 'UTC', user_agent FROM auth_sessions ORDER BY remember", dbname=name
    )
    assert sessions.splitlines() == ["f|2023-11-14 22:13:20|", "t||Mozilla/5.0 ☃"]
    audited = postgres_server.psql(
        "SELECT actor_type, result, details->>'command', details->'rows'->>'customers' FROM audit_events"
        " WHERE action = 'database.copied'",
        dbname=name,
    )
    assert audited.splitlines() == ["system|success|shipyard db copy|5"]


@pytest.mark.usefixtures("awkward")
async def test_a_target_that_is_not_empty_is_refused_unless_forced(copy_cli: Cli, target: tuple[str, str]) -> None:
    assert copy_cli.run("db", "copy", "--to", target[0]).returncode == 0
    again = copy_cli.run("db", "copy", "--to", target[0])
    assert again.returncode == 1
    assert "error: the target is not empty: " in again.stderr
    assert "organizations (1 rows)" in again.stderr
    assert "pass --force to replace its contents" in again.stderr
    forced = copy_cli.run("db", "copy", "--to", target[0], "--force")
    assert forced.returncode == 0, forced.stderr


@pytest.mark.usefixtures("awkward")
async def test_a_failed_copy_leaves_the_target_empty(
    copy_cli: Cli, database_file: Path, target: tuple[str, str], postgres_server: PostgresServer
) -> None:
    with sqlite3.connect(database_file) as connection:
        # invoices come late in dependency order: organisations, users and customers are copied first.
        connection.execute("UPDATE invoices SET created_at = 'not a time' WHERE total = ?", (LARGEST_TOTAL,))
    connection.close()
    failed = copy_cli.run("db", "copy", "--to", target[0])
    assert failed.returncode == 1
    assert "invoices.created_at of row 'inv_" in failed.stderr
    assert "cannot read 'not a time' as datetime" in failed.stderr
    name = target[0].rsplit("/", 1)[1]
    counts = postgres_server.psql(
        "SELECT (SELECT count(*) FROM organizations) + (SELECT count(*) FROM customers) + (SELECT count(*) FROM users)",
        dbname=name,
    )
    assert counts.strip() == "0"


@pytest.mark.usefixtures("awkward")
async def test_a_source_in_use_is_refused(copy_cli: Cli, database_file: Path, target: tuple[str, str]) -> None:
    holder = sqlite3.connect(database_file)
    holder.execute("SELECT 1 FROM customers").fetchall()
    try:
        refused = copy_cli.run("db", "copy", "--to", target[0])
    finally:
        holder.close()
    assert refused.returncode == 1
    assert "is open in a running process: stop shipyard" in refused.stderr
