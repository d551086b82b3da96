"""The request ID reaches PostgreSQL: a slow query in the server's log names the request that ran it."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
import httpx
import pytest

from shipyard.app import create_app
from shipyard.kit.migrate import upgrade
from shipyard.kit.sql_comment import request_id_comment
from shipyard.settings import Settings
from tests.conftest import POSTGRES_SQL
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.pgbouncer import PgBouncerServer
from tests.fixtures.servers import PostgresServer
from tests.fixtures.tenants import create_tenant

SLOW_MS = 200
TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


def _settings(server: PostgresServer, data_dir: Path) -> Settings:
    return Settings.model_validate(
        {
            "env": "test",
            "data_dir": data_dir,
            "jobs_embedded": False,
            # Direct reads off: every read of the request goes through SQLAlchemy's engine.
            "db_direct_pool_size": 0,
            "database_url": server.dsn("shipyard", user="shipyard_app"),
            "migration_database_url": server.dsn("shipyard", user="shipyard_migrator"),
        }
    )


@pytest.fixture(scope="module")
def slow_log_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A migrated cluster that logs every statement slower than `SLOW_MS`, with the production roles."""
    with PostgresServer(settings={"log_min_duration_statement": str(SLOW_MS)}) as server:
        server.psql((POSTGRES_SQL / "01-roles.sql").read_text())
        server.psql((POSTGRES_SQL / "02-grants.sql").read_text(), dbname="shipyard")
        settings = _settings(server, tmp_path_factory.mktemp("slow-log"))
        upgrade(settings, url=settings.migration_database_url)
        yield server


@pytest.fixture(params=["direct", "pgbouncer"])
async def slow_log_client(
    slow_log_server: PostgresServer, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the logging cluster, directly or through PgBouncer in transaction mode, as a tenant's owner."""
    settings = _settings(slow_log_server, tmp_path)
    async with AsyncExitStack() as stack:
        if request.param == "pgbouncer":
            bouncer = stack.enter_context(PgBouncerServer(slow_log_server, users=("shipyard_app",)))
            settings = settings.model_copy(
                update={"database_url": bouncer.dsn("shipyard", "shipyard_app"), "db_pgbouncer": True}
            )
        async for client in _client(settings):
            yield client


async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(settings)
    async with running_lifespan(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            http.headers.update((await create_tenant(application, "Acme", f"acme-{time.monotonic_ns()}")).headers)
            yield http


@pytest.mark.postgres_only
async def test_a_slow_query_in_postgresqls_log_carries_its_request_id(
    slow_log_server: PostgresServer, slow_log_client: httpx.AsyncClient
) -> None:
    request_id = f"slow-{time.monotonic_ns()}"
    # A lock held past the threshold makes the request's read of customers slow, as contention would.
    blocker = await asyncpg.connect(slow_log_server.dsn("shipyard", driver=None))
    try:
        locked = blocker.transaction()
        await locked.start()
        await blocker.execute("LOCK TABLE customers IN ACCESS EXCLUSIVE MODE")
        request = asyncio.create_task(slow_log_client.get("/api/v1/customers", headers={"X-Request-ID": request_id}))
        await asyncio.sleep(SLOW_MS * 2 / 1000)
        await locked.rollback()
        response = await request
    finally:
        await blocker.close()
    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id

    slow_entries = [entry for entry in _log_entries(slow_log_server.log_path) if "duration:" in entry]
    assert any(f"request_id='{request_id}'" in entry and "customers" in entry for entry in slow_entries), slow_entries


def _log_entries(log_path: Path) -> list[str]:
    """The server log's entries: a statement's text runs on over the lines that follow its header."""
    entries: list[str] = []
    for line in log_path.read_text().splitlines():
        if TIMESTAMP.match(line) or not entries:
            entries.append(line)
        else:
            entries[-1] += "\n" + line
    return entries


@pytest.mark.database_independent
def test_the_comment_cannot_be_closed_by_the_value() -> None:
    comment = request_id_comment("x*/ DROP TABLE users; /*'")
    assert comment.count("*/") == 1
    assert comment.endswith("*/")
    assert comment.count("'") == 2
    assert request_id_comment("req-1.a:b_c") == " /* request_id='req-1.a:b_c' */"
