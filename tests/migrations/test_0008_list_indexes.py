"""Migration 0008: a small tenant's filtered page is read from an index in order, whatever its neighbour holds.

The plans are those of the real repository statements (captured as they run), explained on a
database where a neighbour tenant holds thousands of invoices and audit events and the small
tenant a handful. Before 0008, PostgreSQL walked the primary key backwards and filtered out the
neighbour's rows one by one, and SQLite sorted the matches in a temporary B-tree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import insert, inspect
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit import repository as audit_repository
from shipyard.audit.schemas import AuditFilter
from shipyard.customers import repository as customer_repository
from shipyard.customers.schemas import CustomerFilter
from shipyard.invoices import repository as invoice_repository
from shipyard.invoices.schemas import InvoiceFilter
from shipyard.kit.db import Database, create_database
from shipyard.kit.ids import new_id
from shipyard.kit.migrate import alembic_config
from shipyard.models import AuditEvent, Customer, Invoice, Organization
from shipyard.settings import Settings
from tests.fixtures.migrations import differences_and_tables
from tests.fixtures.query_plans import captured_statements, plan_of, reads

NEIGHBOUR_ROWS = 5_000
NEW_INDEXES = {
    "customers": {"ix_customers_organization_id_id"},
    "invoices": {
        "ix_invoices_organization_id_id",
        "ix_invoices_organization_id_status_id",
        "ix_invoices_organization_id_customer_id_id",
    },
    "audit_events": {"ix_audit_events_organization_id_action_id"},
}


async def test_the_migrated_tables_match_the_models(settings: Settings) -> None:
    differences, tables = await differences_and_tables(settings, set(NEW_INDEXES))
    assert set(NEW_INDEXES) <= tables
    assert differences == []


def _index_names(settings: Settings, url: str) -> dict[str, set[str]]:
    async def read() -> dict[str, set[str]]:
        database = create_database(settings, url=url)
        try:
            async with database.engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: {t: {i["name"] for i in inspect(sync).get_indexes(t)} for t in NEW_INDEXES}
                )
        finally:
            await database.dispose()

    return asyncio.run(read())


def test_0008_downgrades_and_upgrades_again(settings: Settings, database_urls: tuple[str, str]) -> None:
    config = alembic_config(settings, url=database_urls[1])
    command.downgrade(config, "0007")
    before = _index_names(settings, database_urls[1])
    assert all(not (before[table] & names) for table, names in NEW_INDEXES.items())
    assert "ix_invoices_organization_id_status" in before["invoices"]
    command.upgrade(config, "head")
    after = _index_names(settings, database_urls[1])
    assert all(names <= after[table] for table, names in NEW_INDEXES.items())
    assert "ix_invoices_organization_id_status" not in after["invoices"]


async def _seed(session: AsyncSession) -> dict[str, str]:
    """A neighbour with NEIGHBOUR_ROWS paid invoices and audit events; a small tenant with two of each."""
    now = datetime.now(UTC)
    ids: dict[str, str] = {}
    for name in ("neighbour", "small"):
        organization = Organization(name=name, slug=name)
        session.add(organization)
        await session.flush()
        customer = Customer(organization_id=organization.id, name=name, email=f"billing@{name}.example")
        session.add(customer)
        await session.flush()
        ids[name], ids[f"{name}_customer"] = organization.id, customer.id
    rows = {"neighbour": NEIGHBOUR_ROWS, "small": 2}
    invoices, events = [], []
    for tenant, count in rows.items():
        for number in range(1, count + 1):
            invoices.append(
                {
                    "id": new_id("inv"),
                    "organization_id": ids[tenant],
                    "customer_id": ids[f"{tenant}_customer"],
                    "number": number,
                    "status": "paid",
                    "currency": "EUR",
                    "line_items": [],
                    "total": 100,
                    "memo": "",
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            events.append(
                {
                    "id": new_id("aud"),
                    "organization_id": ids[tenant],
                    "actor_type": "system",
                    "action": "invoice.paid",
                    "result": "success",
                    "details": {},
                    "occurred_at": now,
                }
            )
    await session.execute(insert(Invoice), invoices)
    await session.execute(insert(AuditEvent), events)
    return ids


LISTS: dict[str, tuple[str, Callable[[AsyncSession, dict[str, str]], Awaitable[object]]]] = {
    "customers": (
        "ix_customers_organization_id_id",
        lambda s, ids: customer_repository.list_page(s, ids["small"], CustomerFilter(), limit=50, after_id=None),
    ),
    "invoices by status": (
        "ix_invoices_organization_id_status_id",
        lambda s, ids: invoice_repository.list_page(
            s, ids["small"], InvoiceFilter(status="paid"), limit=50, after_id=None
        ),
    ),
    "invoices of a customer": (
        "ix_invoices_organization_id_customer_id_id",
        lambda s, ids: invoice_repository.list_page(
            s,
            ids["small"],
            InvoiceFilter(customer_id=ids["small_customer"]),
            limit=50,
            after_id=None,
        ),
    ),
    "audit events by action": (
        "ix_audit_events_organization_id_action_id",
        lambda s, ids: audit_repository.list_events(
            s, ids["small"], AuditFilter(action="invoice.paid"), limit=50, after_id=None
        ),
    ),
}


@pytest.mark.parametrize("name", list(LISTS))
async def test_a_small_tenants_page_is_read_in_order_from_its_index(database: Database, name: str) -> None:
    index, run_list = LISTS[name]
    async with database.writer() as session:
        ids = await _seed(session)
        await session.commit()
    async with database.writer() as session:
        connection = await session.connection()
        await connection.exec_driver_sql("ANALYZE")  # the planners judge by statistics, as in production
        with captured_statements(database.write_engine) as statements:
            page = await run_list(session, ids)
        assert len(page) == 1 if name == "customers" else len(page) == 2  # the small tenant's own rows only
        statement, parameters = reads(statements)[0]
        plan = await plan_of(session, statement, parameters, analyze=True)
    assert index in plan
    if '"Node Type"' in plan:  # PostgreSQL: in order from the index, no neighbour row read and thrown away
        assert '"Node Type": "Sort"' not in plan
        assert '"Rows Removed by Filter"' not in plan or '"Rows Removed by Filter": 0' in plan
    else:  # SQLite
        assert "TEMP B-TREE" not in plan
