"""Shared fixtures: a real database per test (SQLite or PostgreSQL), the app, a client and tenants."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shipyard.app import create_app
from shipyard.kit.db import Database, create_database
from shipyard.kit.logging import configure_logging
from shipyard.kit.migrate import upgrade
from shipyard.settings import Settings
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.servers import PostgresServer
from tests.fixtures.sqlite_lock import IMPATIENT_BUSY_TIMEOUT_MS
from tests.fixtures.tenants import Tenant, create_tenant

DB_KIND = os.environ.get("SHIPYARD_TEST_DB", "sqlite")
REPO = Path(__file__).resolve().parent.parent
POSTGRES_SQL = REPO / "deploy" / "postgres"
_database_numbers = itertools.count()


def pytest_report_header() -> str:
    """Say which database this run uses."""
    return f"shipyard database: {DB_KIND}"


# Tests of the deploy files (linters, config checks, servers started from those files) never use the
# suite's database, so the whole folder runs once, whatever a new file forgets to mark.
DATABASE_INDEPENDENT_FOLDERS = (REPO / "tests" / "deploy",)


def _mark_database_independent_folders(items: list[pytest.Item]) -> None:
    for item in items:
        if "postgres_only" in item.keywords:
            continue
        if any(item.path.is_relative_to(folder) for folder in DATABASE_INDEPENDENT_FOLDERS):
            item.add_marker(pytest.mark.database_independent)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:  # noqa: ARG001
    """Run PostgreSQL-only tests only on the PostgreSQL run, database-independent ones only on the SQLite run."""
    _mark_database_independent_folders(items)
    both = [item.nodeid for item in items if {"postgres_only", "database_independent"} <= set(item.keywords)]
    if both:
        msg = f"marked both postgres_only and database_independent, so they would never run: {both}"
        raise pytest.UsageError(msg)
    if DB_KIND == "postgres":
        once = pytest.mark.skip(reason="database-independent: runs in the SQLite pass of `make test`")
        for item in items:
            if "database_independent" in item.keywords:
                item.add_marker(once)
        return
    skip = pytest.mark.skip(reason="runs in the PostgreSQL pass of `make test`")
    for item in items:
        if "postgres_only" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging(json_lines=True, level="WARNING")


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The app's engines on this test's database, disposed of afterwards."""
    database = create_database(settings)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def pycache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Byte-code cache shared by every `shipyard` CLI run, kept between test sessions when pytest's cache is on."""
    cache = getattr(request.config, "cache", None)
    return cache.mkdir("shipyard-pycache") if cache is not None else tmp_path_factory.mktemp("pycache")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL cluster for the session, with the production roles."""
    with PostgresServer() as server:
        server.psql((POSTGRES_SQL / "01-roles.sql").read_text())
        server.psql((POSTGRES_SQL / "02-grants.sql").read_text(), dbname="shipyard")
        yield server


def _base_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "test",
        "data_dir": tmp_path,
        "log_format": "json",
        "token_last_used_resolution_s": 0,
        # Tests that exercise jobs start them themselves (tests/fixtures/jobs.py, workers.py).
        "jobs_embedded": False,
        # Generous API quotas, so no test trips them unless it sets its own (tests/identity/test_rate_limit.py).
        "api_rate_limit_reads": 100_000,
        "api_rate_limit_writes": 100_000,
        # The same for the MCP tools' budget (tests/mcp/test_budget.py sets its own).
        "mcp_expensive_tool_budget": 100_000,
    }
    values.update(overrides)
    return Settings.model_validate(values)


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """Migrate once: a template SQLite file, or the `shipyard` PostgreSQL database used as a template."""
    if DB_KIND == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        migrator_url = server.dsn("shipyard", user="shipyard_migrator")
        upgrade(_base_settings(tmp_path_factory.mktemp("migrate"), database_url=migrator_url))
        return "shipyard"
    directory = tmp_path_factory.mktemp("template")
    url = f"sqlite+aiosqlite:///{directory / 'template.db'}"
    upgrade(_base_settings(directory, database_url=url))
    return str(directory / "template.db")


@pytest.fixture
def database_urls(migrated_template: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """(app URL, migrator URL) of a fresh, migrated database for this test."""
    if DB_KIND == "postgres":
        server: PostgresServer = request.getfixturevalue("postgres_server")
        name = f"test_{os.getpid()}_{next(_database_numbers)}"
        server.psql(f"CREATE DATABASE {name} TEMPLATE {migrated_template} OWNER shipyard_migrator")
        yield server.dsn(name, user="shipyard_app"), server.dsn(name, user="shipyard_migrator")
        server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        return
    path = tmp_path / "shipyard.db"
    shutil.copyfile(migrated_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    yield url, url


@pytest.fixture
def settings(database_urls: tuple[str, str], tmp_path: Path) -> Settings:
    """Test settings pointing at this test's database."""
    app_url, migrator_url = database_urls
    return _base_settings(tmp_path, database_url=app_url, migration_database_url=migrator_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[object]:
    """The app with its lifespan running."""
    application = create_app(settings)
    async with running_lifespan(application):
        yield application


@pytest.fixture
async def impatient_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with a busy timeout short enough for a locked SQLite database to show quickly."""
    application = create_app(settings.model_copy(update={"sqlite_busy_timeout_ms": IMPATIENT_BUSY_TIMEOUT_MS}))
    async with running_lifespan(application):
        yield application


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # a FastAPI app is an ASGI app
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
async def tenant(app: object) -> Tenant:
    """Organisation A with an owner and an all-scopes token."""
    return await create_tenant(app, "Acme", "acme")


@pytest.fixture
async def other_tenant(app: object) -> Tenant:
    """Organisation B, to prove isolation."""
    return await create_tenant(app, "Globex", "globex")
