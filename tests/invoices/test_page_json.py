"""A page of invoices written straight from rows is byte for byte what `Page[InvoiceRead]` gives."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import TypeAdapter
from sqlalchemy import select

from shipyard.invoices import repository
from shipyard.invoices.endpoints import INVOICE_PAGE, listed_invoice
from shipyard.invoices.schemas import InvoiceFilter, InvoiceRead
from shipyard.kit.pagination import Page
from shipyard.models import Invoice
from tests.fixtures.billing import create_customer
from tests.fixtures.tenants import Tenant

# How FastAPI wrote the page before decision 0064: its response field's TypeAdapter, by alias.
_PAGE = TypeAdapter(Page[InvoiceRead])
_NEW_YORK = timezone(timedelta(hours=-5))


def _line(description: str, quantity: int, unit_amount: int) -> dict[str, Any]:
    # Keys deliberately out of the model's order: the page must put them back in it.
    return {
        "amount": quantity * unit_amount,
        "unit_amount": unit_amount,
        "quantity": quantity,
        "description": description,
    }


# Escapes, non-ASCII, emoji, empty and null values, every status, timestamps given in another zone.
AWKWARD: list[dict[str, Any]] = [
    {"status": "draft", "memo": "", "due_date": None, "line_items": [_line('Zoë "Z" \\ </script>\n', 1, 0)]},
    {
        "status": "open",
        "memo": "日本語 😀 \u2028",
        "due_date": date(2026, 2, 28),
        "line_items": [_line("a", 3, 99_999_999_999), _line("ключ 😀", 1_000_000, 1)],
        "finalized_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=_NEW_YORK),
    },
    {
        "status": "paid",
        "memo": "x" * 2000,
        "due_date": date(1999, 12, 31),
        "line_items": [_line("tab\tinside", 2, 5)],
        "finalized_at": datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        "paid_at": datetime(2026, 1, 3, tzinfo=UTC),
    },
    {
        "status": "void",
        "memo": "void",
        "due_date": None,
        "line_items": [_line("v", 1, 1)],
        "finalized_at": datetime(2026, 1, 2, tzinfo=UTC),
        "voided_at": datetime(2026, 1, 4, 23, 59, 59, 999999, tzinfo=_NEW_YORK),
    },
]


async def _insert_awkward_invoices(app: FastAPI, tenant: Tenant, customer_id: str) -> None:
    async with app.state.database.writer() as session:
        for number, values in enumerate(AWKWARD, start=1):
            stamp = datetime(2026, 1, 1, 12, 0, 0, number, tzinfo=_NEW_YORK)
            total = sum(line["amount"] for line in values["line_items"])
            session.add(
                Invoice(
                    organization_id=tenant.organization_id,
                    customer_id=customer_id,
                    number=number,
                    currency="eur",
                    total=total,
                    created_at=stamp,
                    updated_at=stamp,
                    **values,
                )
            )
        await session.commit()


async def _page_as_the_model_writes_it(app: FastAPI, tenant: Tenant) -> bytes:
    """The page the model way: ORM objects validated into `InvoiceRead` and dumped as FastAPI did."""
    async with app.state.database.writer() as session:
        invoices = await session.scalars(
            select(Invoice).where(Invoice.organization_id == tenant.organization_id).order_by(Invoice.id.desc())
        )
        page = Page[InvoiceRead](data=[InvoiceRead.model_validate(i) for i in invoices], next_cursor=None)
    return _PAGE.dump_json(_PAGE.validate_python(page), by_alias=True)


@pytest.mark.parametrize("route", ["/api/v1/invoices", "/api/v1/customers/{customer_id}/invoices"])
async def test_the_api_pages_are_byte_for_byte_the_models_serialisation(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, route: str
) -> None:
    customer_id = (await create_customer(client, tenant))["id"]
    await _insert_awkward_invoices(app, tenant, customer_id)
    expected = await _page_as_the_model_writes_it(app, tenant)

    response = await client.get(route.format(customer_id=customer_id), params={"limit": 100}, headers=tenant.headers)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.content == expected


async def test_the_direct_read_and_the_session_give_the_same_page(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    # On PostgreSQL the request reader reads on asyncpg and the writer through SQLAlchemy.
    customer_id = (await create_customer(client, tenant))["id"]
    await _insert_awkward_invoices(app, tenant, customer_id)
    expected = await _page_as_the_model_writes_it(app, tenant)
    bodies = []
    for sessions in (app.state.database.request_reader, app.state.database.writer):
        async with sessions() as session:
            rows = await repository.list_page(
                session, tenant.organization_id, InvoiceFilter(), limit=100, after_id=None
            )
        bodies.append(INVOICE_PAGE.json(map(listed_invoice, rows), 100))
    assert bodies == [expected, expected]
