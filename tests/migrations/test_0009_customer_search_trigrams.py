"""Migration 0009: a customer search reads trigram indexes on PostgreSQL, never the whole table.

The plans are those of the real repository statements (the list's `?q=` and MCP
`search_customers`, captured as they run), explained on a database where one tenant holds
thousands of customers. Before 0009, PostgreSQL walked the tenant's rows (or the table) and
tested the pattern on each. SQLite has no trigram index: it reads the tenant's own rows through
`(organization_id, id)`, never other tenants'.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.customers import repository as customer_repository
from shipyard.customers.schemas import CustomerFilter
from shipyard.kit.db import Database, create_database
from shipyard.kit.ids import new_id
from shipyard.kit.migrate import alembic_config
from shipyard.mcp import repository as mcp_repository
from shipyard.models import Customer, Organization
from shipyard.settings import Settings
from tests.fixtures.migrations import differences_and_tables
from tests.fixtures.query_plans import captured_statements, plan_of, reads

TENANT_CUSTOMERS = 5_000
TRIGRAM_INDEXES = {"ix_customers_lower_name_trgm", "ix_customers_lower_email_trgm"}
RARE_NAME = "Zyxwvut Shipping GmbH"


async def test_the_migrated_customers_table_matches_the_model(settings: Settings) -> None:
    differences, tables = await differences_and_tables(settings, {"customers"})
    assert "customers" in tables
    assert differences == []


def _index_names(settings: Settings, url: str) -> set[str]:
    async def read() -> set[str]:
        database = create_database(settings, url=url)
        try:
            async with database.engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: {index["name"] or "" for index in inspect(sync).get_indexes("customers")}
                )
        finally:
            await database.dispose()

    return asyncio.run(read())


def test_0009_downgrades_and_upgrades_again(settings: Settings, database_urls: tuple[str, str]) -> None:
    config = alembic_config(settings, url=database_urls[1])
    expected = TRIGRAM_INDEXES if settings.database_url.startswith("postgresql") else set()
    assert _index_names(settings, database_urls[1]) & TRIGRAM_INDEXES == expected
    command.downgrade(config, "0008")
    assert not _index_names(settings, database_urls[1]) & TRIGRAM_INDEXES
    command.upgrade(config, "head")
    assert _index_names(settings, database_urls[1]) & TRIGRAM_INDEXES == expected


async def _seed(session: AsyncSession) -> dict[str, str]:
    """A tenant with TENANT_CUSTOMERS customers, one of them named RARE_NAME, and a neighbour with one."""
    now = datetime.now(UTC)
    ids: dict[str, str] = {}
    for name in ("large", "neighbour"):
        organization = Organization(name=name, slug=name)
        session.add(organization)
        await session.flush()
        ids[name] = organization.id
    rows = [
        {
            "id": new_id("cus"),
            "organization_id": ids["large"],
            "name": RARE_NAME if number == TENANT_CUSTOMERS // 2 else f"Customer {number:05d} Ltd",
            "email": f"billing{number}@customer{number}.example",
            "metadata": {},
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for number in range(TENANT_CUSTOMERS)
    ]
    rows.append({**rows[0], "id": new_id("cus"), "organization_id": ids["neighbour"], "name": RARE_NAME})
    await session.execute(insert(Customer), rows)
    return ids


async def _listed_names(session: AsyncSession, organization_id: str, text: str) -> list[str]:
    # The list's rows are keyed by the API's field names (decision 0064).
    rows = await customer_repository.list_page(
        session, organization_id, CustomerFilter(q=text), limit=20, after_id=None
    )
    return [row["name"] for row in rows]


async def _searched_names(session: AsyncSession, organization_id: str, text: str) -> list[str]:
    return [customer.name for customer in await mcp_repository.search_customers(session, organization_id, text, 20)]


SEARCHES: dict[str, Callable[[AsyncSession, str, str], Awaitable[list[str]]]] = {
    "the list's ?q=": _listed_names,
    "MCP search_customers": _searched_names,
}


async def _analyze(settings: Settings, owner_url: str) -> None:
    """Gather statistics and settle the indexes, as autovacuum does in production (only the tables' owner may).

    VACUUM also moves the rows just inserted from GIN's pending list into the index proper: the
    planner prices a long pending list (read in full by every search) above a scan of the table.
    """
    owner = create_database(settings, url=owner_url)
    try:
        async with owner.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            vacuum = "VACUUM ANALYZE customers" if connection.dialect.name == "postgresql" else "ANALYZE"
            await connection.exec_driver_sql(vacuum)
    finally:
        await owner.dispose()


@pytest.mark.parametrize("name", list(SEARCHES))
@pytest.mark.parametrize("text", ["zyxwvut", "ZYXWVUT SHIP"])
async def test_a_search_reads_an_index_not_the_table(
    database: Database, settings: Settings, database_urls: tuple[str, str], name: str, text: str
) -> None:
    async with database.writer() as session:
        ids = await _seed(session)
        await session.commit()
    await _analyze(settings, database_urls[1])
    async with database.writer() as session:
        with captured_statements(database.write_engine) as statements:
            found = await SEARCHES[name](session, ids["large"], text)
        assert found == [RARE_NAME]  # the tenant's own match, once
        statement, parameters = reads(statements)[0]
        plan = await plan_of(session, statement, parameters, analyze=True)
    if '"Node Type"' in plan:  # PostgreSQL: both patterns answered from the trigram indexes
        assert all(index in plan for index in TRIGRAM_INDEXES), plan
        assert '"Seq Scan"' not in plan
    else:  # SQLite: the tenant's own rows through its index, not the table
        assert "ix_customers_organization_id" in plan
        assert "SCAN customers\n" not in f"{plan}\n"
