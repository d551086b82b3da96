"""Invoices over HTTP: creation, server-computed totals, strict validation, draft edits and deletion."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.billing import LINE, create_customer, create_invoice, invoice_body, invoice_path
from tests.fixtures.tenants import Tenant

MAX_TOTAL = 999_999_999_999_999


@pytest.fixture
async def customer(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    return await create_customer(client, tenant)


def _invoices(customer: dict[str, Any]) -> str:
    return f"/api/v1/customers/{customer['id']}/invoices"


def _pointers(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_failed"
    return [error.get("pointer") for error in problem["errors"]]


async def test_create_returns_a_numbered_draft_with_location(
    client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any]
) -> None:
    body = invoice_body(due_date="2026-12-31", memo="Thanks!")
    response = await client.post(_invoices(customer), json=body, headers=tenant.headers)

    assert response.status_code == 201, response.text
    invoice = response.json()
    assert invoice["id"].startswith("inv_")
    assert invoice["object"] == "invoice"
    assert invoice["customer_id"] == customer["id"]
    assert invoice["number"] == 1
    assert invoice["status"] == "draft"
    assert invoice["currency"] == "EUR"
    assert invoice["due_date"] == "2026-12-31"
    assert invoice["memo"] == "Thanks!"
    assert invoice["finalized_at"] is None
    assert invoice["paid_at"] is None
    assert invoice["voided_at"] is None
    assert response.headers["location"] == f"{_invoices(customer)}/{invoice['id']}"
    fetched = await client.get(response.headers["location"], headers=tenant.headers)
    assert fetched.status_code == 200
    assert fetched.json() == invoice
    assert fetched.headers["etag"] == response.headers["etag"]


async def test_amounts_and_total_are_computed_by_the_server(
    client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any]
) -> None:
    lines = [
        {"description": "Design", "quantity": 3, "unit_amount": 1250},
        {"description": "Hosting", "quantity": 12, "unit_amount": 999},
        {"description": "Goodwill", "quantity": 1, "unit_amount": 0},
    ]
    invoice = await create_invoice(client, tenant, customer["id"], line_items=lines)
    assert invoice["line_items"] == [
        {**lines[0], "amount": 3750},
        {**lines[1], "amount": 11988},
        {**lines[2], "amount": 0},
    ]
    assert invoice["total"] == 3750 + 11988


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        ({"total": 1}, "#/total"),
        ({"line_items": [{**LINE, "amount": 1}]}, "#/line_items/0/amount"),
    ],
    ids=["total", "line-amount"],
)
async def test_client_cannot_send_computed_fields(
    client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any], overrides: dict[str, Any], pointer: str
) -> None:
    response = await client.post(_invoices(customer), json=invoice_body(**overrides), headers=tenant.headers)
    assert pointer in _pointers(response)


async def test_currency_code_is_normalised_to_upper_case(
    client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any]
) -> None:
    invoice = await create_invoice(client, tenant, customer["id"], currency="jpy")
    assert invoice["currency"] == "JPY"


@pytest.mark.parametrize("currency", ["XXZ", "EURO", "EU", "", "usd ", 978, None, True])
async def test_currency_outside_iso_4217_is_422(
    client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any], currency: object
) -> None:
    response = await client.post(_invoices(customer), json=invoice_body(currency=currency), headers=tenant.headers)
    assert _pointers(response) == ["#/currency"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("quantity", False),
        ("quantity", True),
        ("quantity", 1.5),
        ("quantity", "2"),
        ("quantity", None),
        ("quantity", 0),
        ("quantity", -1),
        ("quantity", 1_000_001),
        ("unit_amount", False),
        ("unit_amount", "100"),
        ("unit_amount", 10.5),
        ("unit_amount", -1),
        ("unit_amount", 100_000_000_000),
        ("description", ""),
        ("description", 7),
        ("description", "x" * 501),
    ],
)
async def test_line_item_fields_are_strictly_typed(
    client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any], field: str, value: object
) -> None:
    body = invoice_body(line_items=[{**LINE, field: value}])
    response = await client.post(_invoices(customer), json=body, headers=tenant.headers)
    assert _pointers(response) == [f"#/line_items/0/{field}"]
    listed = await client.get("/api/v1/invoices", headers=tenant.headers)
    assert listed.json()["data"] == []


async def test_a_whole_number_written_with_a_fraction_is_an_integer(
    client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any]
) -> None:
    # JSON Schema, which the OpenAPI document speaks, calls 2.0 an integer; so does the server.
    body = invoice_body(line_items=[{**LINE, "quantity": 2.0, "unit_amount": 1250.0}])
    response = await client.post(_invoices(customer), json=body, headers=tenant.headers)
    assert response.status_code == 201, response.text
    line = response.json()["line_items"][0]
    assert (line["quantity"], line["unit_amount"], line["amount"]) == (2, 1250, 2500)
    assert response.text.count("2500") == 2  # the amount and the total, written as integers
    assert "2500.0" not in response.text


@pytest.mark.parametrize(
    ("line_items", "pointer"),
    [
        ([], "#/line_items"),
        ([LINE] * 101, "#/line_items"),
        ("Consulting", "#/line_items"),
        ([{"description": "x", "quantity": 1}], "#/line_items/0/unit_amount"),
    ],
    ids=["empty", "101-lines", "not-a-list", "missing-unit-amount"],
)
async def test_line_items_shape_is_validated(
    client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any], line_items: object, pointer: str
) -> None:
    response = await client.post(_invoices(customer), json=invoice_body(line_items=line_items), headers=tenant.headers)
    assert pointer in _pointers(response)


async def test_total_may_reach_but_not_exceed_the_cap(
    client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any]
) -> None:
    # 1,000,000 x 999,999,999 + 999,999 x 1 is exactly the cap.
    at_cap = [
        {"description": "big", "quantity": 1_000_000, "unit_amount": 999_999_999},
        {"description": "rest", "quantity": 999_999, "unit_amount": 1},
    ]
    invoice = await create_invoice(client, tenant, customer["id"], line_items=at_cap)
    assert invoice["total"] == MAX_TOTAL

    over_cap = [*at_cap, {"description": "one more", "quantity": 1, "unit_amount": 1}]
    response = await client.post(_invoices(customer), json=invoice_body(line_items=over_cap), headers=tenant.headers)
    assert _pointers(response) == ["#/line_items"]

    huge = [{"description": "max", "quantity": 1_000_000, "unit_amount": 99_999_999_999}] * 100
    response = await client.post(_invoices(customer), json=invoice_body(line_items=huge), headers=tenant.headers)
    assert _pointers(response) == ["#/line_items"]


@pytest.mark.parametrize("due_date", ["2026-02-30", "31/12/2026", "2026-12-31T00:00:00", "tomorrow", 20261231])
async def test_due_date_must_be_an_iso_date(
    client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any], due_date: object
) -> None:
    response = await client.post(_invoices(customer), json=invoice_body(due_date=due_date), headers=tenant.headers)
    assert _pointers(response) == ["#/due_date"]


async def test_due_date_is_optional(client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any]) -> None:
    invoice = await create_invoice(client, tenant, customer["id"])
    assert invoice["due_date"] is None


async def test_invoice_under_an_unknown_customer_is_404(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        "/api/v1/customers/cus_01HZZZZZZZZZZZZZZZZZZZZZZZ/invoices", json=invoice_body(), headers=tenant.headers
    )
    assert response.status_code == 404
    assert response.json()["code"] == "resource_not_found"


async def test_patching_a_draft_recomputes_the_total(
    client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any]
) -> None:
    invoice = await create_invoice(client, tenant, customer["id"], due_date="2026-12-31", memo="old")
    lines = [{"description": "Audit", "quantity": 2, "unit_amount": 5000}]

    patched = await client.patch(
        invoice_path(invoice), json={"line_items": lines, "currency": "usd"}, headers=tenant.headers
    )

    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["line_items"] == [{**lines[0], "amount": 10000}]
    assert body["total"] == 10000
    assert body["currency"] == "USD"
    assert body["due_date"] == "2026-12-31"
    assert body["memo"] == "old"
    assert body["number"] == invoice["number"]
    assert body["status"] == "draft"
    assert (await client.get(invoice_path(invoice), headers=tenant.headers)).json() == body


async def test_patching_due_date_to_null_clears_it(
    client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any]
) -> None:
    invoice = await create_invoice(client, tenant, customer["id"], due_date="2026-12-31")
    patched = await client.patch(invoice_path(invoice), json={"due_date": None}, headers=tenant.headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["due_date"] is None
    moved = await client.patch(invoice_path(invoice), json={"due_date": "2027-01-15"}, headers=tenant.headers)
    assert moved.json()["due_date"] == "2027-01-15"


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"line_items": [{**LINE, "quantity": False}]}, "#/line_items/0/quantity"),
        ({"currency": "XXZ"}, "#/currency"),
        ({"number": 7}, "#/number"),
        ({"status": "paid"}, "#/status"),
        ({"total": 0}, "#/total"),
    ],
)
async def test_invalid_patch_is_422_and_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any], body: dict[str, Any], pointer: str
) -> None:
    invoice = await create_invoice(client, tenant, customer["id"])
    response = await client.patch(invoice_path(invoice), json=body, headers=tenant.headers)
    assert pointer in _pointers(response)
    assert (await client.get(invoice_path(invoice), headers=tenant.headers)).json() == invoice


async def test_deleting_a_draft_removes_it(client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any]) -> None:
    invoice = await create_invoice(client, tenant, customer["id"])
    deleted = await client.delete(invoice_path(invoice), headers=tenant.headers)
    assert deleted.status_code == 204
    assert (await client.get(invoice_path(invoice), headers=tenant.headers)).status_code == 404
    assert (await client.get(_invoices(customer), headers=tenant.headers)).json()["data"] == []
    assert (await client.delete(invoice_path(invoice), headers=tenant.headers)).status_code == 404


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"memo": "hijacked"}),
        ("DELETE", "", None),
        ("POST", "/finalize", None),
        ("POST", "/pay", None),
        ("POST", "/void", None),
    ],
)
async def test_invoice_under_another_customers_path_is_404(
    client: httpx.AsyncClient,
    tenant: Tenant,
    customer: dict[str, Any],
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    invoice = await create_invoice(client, tenant, customer["id"])
    if suffix in {"/pay", "/void"}:
        finalized = await client.post(invoice_path(invoice, "/finalize"), headers=tenant.headers)
        invoice = finalized.json()
    stranger = await create_customer(client, tenant)
    wrong = f"{_invoices(stranger)}/{invoice['id']}{suffix}"

    response = await client.request(method, wrong, json=body, headers=tenant.headers)

    assert response.status_code == 404, response.text
    assert response.json()["code"] == "resource_not_found"
    assert (await client.get(invoice_path(invoice), headers=tenant.headers)).json() == invoice
    assert (await client.get(_invoices(stranger), headers=tenant.headers)).json()["data"] == []
