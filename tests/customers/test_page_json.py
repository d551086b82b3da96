"""A page of customers written straight from rows is byte for byte what `Page[CustomerRead]` gives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import TypeAdapter
from sqlalchemy import select

from shipyard.customers import repository
from shipyard.customers.endpoints import CUSTOMER_PAGE, listed_customer
from shipyard.customers.schemas import CustomerFilter, CustomerRead
from shipyard.kit.ids import new_id
from shipyard.kit.pagination import Page
from shipyard.models import Customer
from tests.fixtures.tenants import Tenant

CUSTOMERS = "/api/v1/customers"
# How FastAPI wrote the page before decision 0064: its response field's TypeAdapter, by alias.
_PAGE = TypeAdapter(Page[CustomerRead])
_KOLKATA = timezone(timedelta(hours=5, minutes=30))
# Values that a hand-made JSON writer gets wrong: escapes, non-ASCII, emoji, empty values, a
# timestamp without microseconds and ones given in another zone.
AWKWARD: list[dict[str, Any]] = [
    {"name": 'Zoë "Z" \\ </script>\n\t', "email": "zoe+tag@example.com", "metadata_": {}},
    {"name": "日本語 😀", "email": "u@例え.jp", "metadata_": {"ключ": "значение 😀", "empty": ""}},
    {"name": "\u2028line\u2029sep\x7f", "email": "a@example.com", "metadata_": {"k": "\x01control"}},
    {"name": "x" * 200, "email": "b@example.com", "metadata_": {f"k{i}": "v" * 500 for i in range(50)}},
]
_STAMPS = [
    datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    datetime(2026, 6, 30, 23, 59, 59, 1, tzinfo=_KOLKATA),
    datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-8))),
]


async def _insert_awkward_customers(app: FastAPI, tenant: Tenant) -> None:
    async with app.state.database.writer() as session:
        for values, stamp in zip(AWKWARD, _STAMPS, strict=True):
            session.add(
                Customer(
                    id=new_id("cus"),
                    organization_id=tenant.organization_id,
                    created_at=stamp,
                    updated_at=stamp + timedelta(microseconds=10),
                    **values,
                )
            )
        # An archived customer: it must stay out of the page either way.
        session.add(
            Customer(organization_id=tenant.organization_id, name="Gone", email="g@example.com", archived_at=_STAMPS[0])
        )
        await session.commit()


async def _pages_as_the_model_writes_them(app: FastAPI, tenant: Tenant, limit: int) -> list[bytes]:
    """Every page the model way: ORM objects validated into `CustomerRead` and dumped as FastAPI did."""
    async with app.state.database.writer() as session:
        customers = list(
            await session.scalars(
                select(Customer)
                .where(Customer.organization_id == tenant.organization_id, Customer.archived_at.is_(None))
                .order_by(Customer.id.desc())
            )
        )
    pages = []
    for start in range(0, len(customers), limit):
        chunk = customers[start : start + limit]
        cursor = chunk[-1].id if start + limit < len(customers) else None
        page = Page[CustomerRead](data=[CustomerRead.model_validate(c) for c in chunk], next_cursor=cursor)
        pages.append(_PAGE.dump_json(_PAGE.validate_python(page), by_alias=True))
    return pages


async def test_the_api_pages_are_byte_for_byte_the_models_serialisation(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await _insert_awkward_customers(app, tenant)
    expected = await _pages_as_the_model_writes_them(app, tenant, limit=3)

    bodies, cursor = [], None
    for _ in expected:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        response = await client.get(CUSTOMERS, params=params, headers=tenant.headers)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.headers["content-length"] == str(len(response.content))
        bodies.append(response.content)
        cursor = response.json()["next_cursor"]

    assert bodies == expected
    assert cursor is None


async def test_the_direct_read_and_the_session_give_the_same_page(app: FastAPI, tenant: Tenant) -> None:
    # On PostgreSQL the request reader reads on asyncpg and the writer through SQLAlchemy: the
    # rows of both must write the same bytes (on SQLite both go through the session).
    await _insert_awkward_customers(app, tenant)
    expected = await _pages_as_the_model_writes_them(app, tenant, limit=100)
    bodies = []
    for sessions in (app.state.database.request_reader, app.state.database.writer):
        async with sessions() as session:
            rows = await repository.list_page(
                session, tenant.organization_id, CustomerFilter(), limit=100, after_id=None
            )
        bodies.append(CUSTOMER_PAGE.json(map(listed_customer, rows), 100))
    assert bodies == [expected[0], expected[0]]


async def test_a_page_read_through_the_session_shows_its_uncommitted_writes(app: FastAPI, tenant: Tenant) -> None:
    # The session fallback runs on the session's own connection (kit/direct_reads.column_rows),
    # inside its transaction: a request reads what it wrote before committing.
    async with app.state.database.writer() as session:
        session.add(Customer(organization_id=tenant.organization_id, name="Uncommitted", email="u@example.com"))
        await session.flush()
        rows = await repository.list_page(session, tenant.organization_id, CustomerFilter(), limit=100, after_id=None)
        await session.rollback()
    assert [row["name"] for row in rows] == ["Uncommitted"]
