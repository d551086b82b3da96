"""customers.repository.get and get_row: a read-only request's direct read answers exactly what the ORM loads."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import inspect

from shipyard.customers import repository
from shipyard.models import Customer
from tests.fixtures.tenants import Tenant

pytestmark = pytest.mark.postgres_only

COLUMNS = [prop.key for prop in Customer.__mapper__.column_attrs]


async def _create(client: httpx.AsyncClient, tenant: Tenant) -> str:
    body = {"name": "Ada", "email": "ada@example.com", "metadata": {"tier": "gold", "seat": "3"}}
    response = await client.post("/api/v1/customers", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def test_read_only_request_gets_a_detached_copy_of_what_the_orm_loads(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    customer_id = await _create(client, tenant)
    async with app.state.database.request_reader() as session:
        direct = await repository.get(session, tenant.organization_id, customer_id)
    async with app.state.database.writer() as session:
        loaded = await repository.get(session, tenant.organization_id, customer_id)
        assert loaded is not None
        assert inspect(loaded).persistent
    assert direct is not None
    assert inspect(direct).transient
    assert {key: getattr(direct, key) for key in COLUMNS} == {key: getattr(loaded, key) for key in COLUMNS}
    assert direct.created_at.utcoffset() is not None


async def test_direct_read_is_scoped_to_the_organisation_and_skips_archived_customers(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    customer_id = await _create(client, tenant)
    async with app.state.database.request_reader() as session:
        assert await repository.get(session, other_tenant.organization_id, customer_id) is None
    archived = await client.delete(f"/api/v1/customers/{customer_id}", headers=tenant.headers)
    assert archived.status_code == 204, archived.text
    async with app.state.database.request_reader() as session:
        assert await repository.get(session, tenant.organization_id, customer_id) is None


async def test_get_row_read_directly_holds_what_the_orm_loads(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    customer_id = await _create(client, tenant)
    async with app.state.database.request_reader() as session:
        row = await repository.get_row(session, tenant.organization_id, customer_id)
        assert await repository.get_row(session, other_tenant.organization_id, customer_id) is None
        assert not session.in_transaction()  # read past the session, not through it
    async with app.state.database.writer() as session:
        loaded = await repository.get(session, tenant.organization_id, customer_id)
    assert row is not None
    assert loaded is not None
    assert row._asdict() == {key: getattr(loaded, key) for key in COLUMNS}
