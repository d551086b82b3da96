"""Listing invoices: the org-wide list and a customer's list, with pagination and filters."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.billing import act, create_customer, create_invoice, walk
from tests.fixtures.tenants import Tenant

ALL = "/api/v1/invoices"


def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [invoice["id"] for invoice in response.json()["data"]]


def _customer_list(customer: dict[str, Any]) -> str:
    return f"/api/v1/customers/{customer['id']}/invoices"


@pytest.fixture
async def by_status(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, list[str]]:
    """Two customers' invoices in every status; IDs per status, newest first."""
    ada = await create_customer(client, tenant, email="ada@example.com")
    grace = await create_customer(client, tenant, email="grace@example.com")
    plan = [(ada, []), (grace, ["finalize"]), (ada, ["finalize", "pay"]), (grace, ["finalize", "void"])] * 2
    result: dict[str, list[str]] = {"draft": [], "open": [], "paid": [], "void": []}
    for customer, actions in plan:
        invoice = await create_invoice(client, tenant, customer["id"])
        for action in actions:
            invoice = (await act(client, tenant, invoice, action)).json()
        result[invoice["status"]].insert(0, invoice["id"])
    return result


async def test_org_wide_walk_returns_every_invoice_once_newest_first(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customers = [await create_customer(client, tenant) for _ in range(3)]
    created = [(await create_invoice(client, tenant, customers[i % 3]["id"]))["id"] for i in range(25)]

    items, pages = await walk(client, tenant, ALL, {"limit": 10})

    assert [len(page["data"]) for page in pages] == [10, 10, 5]
    assert [item["id"] for item in items] == list(reversed(created))
    assert [item["number"] for item in items] == list(range(25, 0, -1))
    assert pages[-1]["next_cursor"] is None


async def test_default_limit_is_twenty(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await create_customer(client, tenant)
    for _ in range(21):
        await create_invoice(client, tenant, customer["id"])
    for path in (ALL, _customer_list(customer)):
        page = (await client.get(path, headers=tenant.headers)).json()
        assert len(page["data"]) == 20
        assert page["next_cursor"] is not None


async def test_filter_by_status(client: httpx.AsyncClient, tenant: Tenant, by_status: dict[str, list[str]]) -> None:
    for status, expected in by_status.items():
        response = await client.get(ALL, params={"status": status}, headers=tenant.headers)
        assert _ids(response) == expected, status


async def test_status_filter_walks_across_pages(
    client: httpx.AsyncClient, tenant: Tenant, by_status: dict[str, list[str]]
) -> None:
    items, pages = await walk(client, tenant, ALL, {"status": "paid", "limit": 1})
    assert [item["id"] for item in items] == by_status["paid"]
    assert len(pages) == 2


async def test_unknown_status_is_422(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(ALL, params={"status": "overdue"}, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "status"


async def test_filter_by_customer_email(
    client: httpx.AsyncClient, tenant: Tenant, by_status: dict[str, list[str]]
) -> None:
    ada = _ids(await client.get(ALL, params={"customer_email": "ada@example.com"}, headers=tenant.headers))
    assert set(ada) == set(by_status["draft"] + by_status["paid"])
    both = _ids(
        await client.get(ALL, params={"customer_email": "grace@example.com", "status": "void"}, headers=tenant.headers)
    )
    assert both == by_status["void"]
    nobody = _ids(await client.get(ALL, params={"customer_email": "nobody@example.com"}, headers=tenant.headers))
    assert nobody == []


async def test_filter_by_created_range(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await create_customer(client, tenant)
    first, second, third = [await create_invoice(client, tenant, customer["id"]) for _ in range(3)]
    window = {"created_after": second["created_at"], "created_before": third["created_at"]}
    for path in (ALL, _customer_list(customer)):
        assert _ids(await client.get(path, params=window, headers=tenant.headers)) == [second["id"]]
        after = await client.get(path, params={"created_after": second["created_at"]}, headers=tenant.headers)
        assert _ids(after) == [third["id"], second["id"]]
        before = await client.get(path, params={"created_before": second["created_at"]}, headers=tenant.headers)
        assert _ids(before) == [first["id"]]


@pytest.mark.parametrize("param", ["created_after", "created_before"])
async def test_created_filter_without_an_offset_is_422(client: httpx.AsyncClient, tenant: Tenant, param: str) -> None:
    customer = await create_customer(client, tenant)
    for path in (ALL, _customer_list(customer)):
        response = await client.get(path, params={param: "2026-01-01T00:00:00"}, headers=tenant.headers)
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["parameter"] == param


async def test_customer_list_holds_only_that_customers_invoices(client: httpx.AsyncClient, tenant: Tenant) -> None:
    ada, grace = await create_customer(client, tenant), await create_customer(client, tenant)
    invoices = [await create_invoice(client, tenant, c["id"]) for c in (ada, grace, ada, grace, ada)]
    adas = [invoice["id"] for invoice in invoices if invoice["customer_id"] == ada["id"]]
    opened = (await act(client, tenant, invoices[0], "finalize")).json()

    items, pages = await walk(client, tenant, _customer_list(ada), {"limit": 2})

    assert [item["id"] for item in items] == list(reversed(adas))
    assert len(pages) == 2
    only_open = await client.get(_customer_list(ada), params={"status": "open"}, headers=tenant.headers)
    assert _ids(only_open) == [opened["id"]]


async def test_customer_list_of_an_unknown_customer_is_404(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get("/api/v1/customers/cus_01HZZZZZZZZZZZZZZZZZZZZZZZ/invoices", headers=tenant.headers)
    assert response.status_code == 404
    assert response.json()["code"] == "resource_not_found"


@pytest.mark.parametrize("limit", ["101", "0"])
async def test_limit_outside_1_to_100_is_422_on_both_lists(
    client: httpx.AsyncClient, tenant: Tenant, limit: str
) -> None:
    customer = await create_customer(client, tenant)
    for path in (ALL, _customer_list(customer)):
        response = await client.get(path, params={"limit": limit}, headers=tenant.headers)
        assert response.status_code == 422
        assert response.json()["errors"][0]["parameter"] == "limit"


@pytest.mark.parametrize("cursor", ["%%%", "Y3VzX3p6eg", "bm9wZQ"])
async def test_bad_cursor_is_400_on_both_lists(client: httpx.AsyncClient, tenant: Tenant, cursor: str) -> None:
    customer = await create_customer(client, tenant)
    await create_invoice(client, tenant, customer["id"])
    for path in (ALL, _customer_list(customer)):
        response = await client.get(path, params={"cursor": cursor}, headers=tenant.headers)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_cursor"
