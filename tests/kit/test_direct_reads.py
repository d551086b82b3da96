"""Direct reads on asyncpg: when a read-only request uses them, what they return, and when they step aside."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import bindparam, inspect, literal_column, make_url, select, table

from shipyard.customers import repository as customers
from shipyard.invoices import repository as invoices
from shipyard.invoices.schemas import InvoiceFilter
from shipyard.kit import direct_reads
from shipyard.kit.db import create_database
from shipyard.models import Customer
from shipyard.settings import Settings
from tests.fixtures.log_capture import production_logs
from tests.fixtures.servers import PostgresServer
from tests.fixtures.tenants import Tenant

CUSTOMERS = "/api/v1/customers"
LINE = {"description": "Consulting", "quantity": 2, "unit_amount": 1500}


async def _customer_with_invoice(client: httpx.AsyncClient, tenant: Tenant) -> tuple[str, str]:
    created = await client.post(
        CUSTOMERS,
        json={"name": "Ada", "email": "ada@example.com", "metadata": {"tier": "gold"}},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    customer_id = str(created.json()["id"])
    invoice = await client.post(
        f"{CUSTOMERS}/{customer_id}/invoices",
        json={"currency": "EUR", "line_items": [LINE], "due_date": "2030-01-31"},
        headers=tenant.headers,
    )
    assert invoice.status_code == 201, invoice.text
    return customer_id, str(invoice.json()["id"])


def _columns(obj: object) -> dict[str, object]:
    return {attr.key: attr.value for attr in inspect(obj).attrs}


@pytest.mark.postgres_only
async def test_a_read_only_session_reads_invoices_directly_and_gets_what_the_orm_loads(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    customer_id, invoice_id = await _customer_with_invoice(client, tenant)
    async with app.state.database.request_reader() as session:
        direct = await invoices.get(session, tenant.organization_id, customer_id, invoice_id)
        page = await invoices.list_page(session, tenant.organization_id, InvoiceFilter(), limit=10, after_id=None)
        assert not session.in_transaction()
    async with app.state.database.writer() as session:
        loaded = await invoices.get(session, tenant.organization_id, customer_id, invoice_id)
        assert loaded is not None
        assert inspect(loaded).persistent
    assert direct is not None
    assert inspect(direct).transient
    assert _columns(direct) == _columns(loaded)
    # A page reads only what it shows, by the API's field names (decision 0064).
    shown = {name: value for name, value in _columns(loaded).items() if name not in {"organization_id", "version"}}
    assert [dict(row) for row in page] == [shown]


@pytest.mark.postgres_only
async def test_a_session_that_wrote_reads_its_own_uncommitted_rows(app: FastAPI, tenant: Tenant) -> None:
    async with app.state.database.request_reader() as session:
        staged = Customer(organization_id=tenant.organization_id, name="Uncommitted", email="u@example.com")
        session.add(staged)
        await session.flush()
        found = await customers.get(session, tenant.organization_id, staged.id)
        assert found is staged
        await session.rollback()
    async with app.state.database.request_reader() as session:
        assert await customers.get(session, tenant.organization_id, staged.id) is None


@pytest.mark.postgres_only
async def test_a_dead_direct_connection_falls_back_to_the_session_and_is_replaced(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, postgres_server: PostgresServer, settings: Settings
) -> None:
    customer_id, _ = await _customer_with_invoice(client, tenant)
    url = f"{CUSTOMERS}/{customer_id}"
    assert (await client.get(url, headers=tenant.headers)).status_code == 200
    database = make_url(settings.database_url).database
    query = f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{database}'"  # noqa: S608 - our own test database's name
    killed = postgres_server.psql(f"{query} AND usename = 'shipyard_app'")
    assert int(killed.strip()) >= 1

    answered = await client.get(url, headers=tenant.headers)
    again = await client.get(url, headers=tenant.headers)

    assert answered.status_code == 200, answered.text
    assert answered.json()["id"] == customer_id
    assert again.status_code == 200, again.text
    async with app.state.database.request_reader() as session:
        direct = await customers.get(session, tenant.organization_id, customer_id)
    assert direct is not None
    assert inspect(direct).transient


@pytest.mark.postgres_only
async def test_a_failed_direct_read_returns_none_for_the_session_to_run_instead(app: FastAPI) -> None:
    missing = (
        select(literal_column("1")).select_from(table("no_such_table")).where(literal_column("1") == bindparam("one"))
    )
    async with app.state.database.request_reader() as session:
        with production_logs(level="WARNING") as logs:
            assert await direct_reads.fetch(session, missing, {"one": 1}) is None
        assert await direct_reads.fetch(session, select(literal_column("2")), {}) == [(2,)]
    assert [event["error"] for event in logs.events("direct_read_failed")] == ["UndefinedTableError"]


async def test_direct_reads_only_on_postgresql_without_pgbouncer(settings: Settings) -> None:
    database = create_database(settings)
    try:
        if settings.effective_database_url.startswith("sqlite"):
            assert database.direct_reads is None
        else:
            assert database.direct_reads is not None
    finally:
        await database.dispose()
    for change in ({"db_pgbouncer": True}, {"db_direct_pool_size": 0}):
        database = create_database(settings.model_copy(update=change))
        try:
            assert database.direct_reads is None
            async with database.request_reader() as session:
                assert await customers.get(session, "org_none", "cus_none") is None
        finally:
            await database.dispose()


@pytest.mark.postgres_only
async def test_a_pool_busy_past_its_timeout_hands_the_read_back_and_keeps_its_connections(settings: Settings) -> None:
    database = create_database(settings.model_copy(update={"db_direct_pool_size": 1, "db_pool_timeout_s": 0.2}))
    direct = database.direct_reads
    assert direct is not None
    one = select(literal_column("1"))
    try:
        await database.open_direct_reads()
        assert await direct.fetch(one, {}) == [(1,)]
        pool = direct._pool  # the test holds the pool's one connection itself
        assert pool is not None
        held = await pool.acquire()
        try:
            with production_logs(level="WARNING") as logs:
                assert await direct.fetch(one, {}) is None
            assert [event["error"] for event in logs.events("direct_read_failed")] == ["TimeoutError"]
        finally:
            await pool.release(held)
        # The timed-out wait left nothing behind: the connection serves the next read, and is idle after it.
        assert await direct.fetch(one, {}) == [(1,)]
        assert pool.get_idle_size() == 1
    finally:
        await database.dispose()
