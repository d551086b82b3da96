"""Per-organisation invoice numbers: sequential, independent between tenants, never reused, race-free."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.fixtures.billing import create_customer, create_invoice, invoice_body, invoice_path
from tests.fixtures.tenants import Tenant


async def _numbers(client: httpx.AsyncClient, tenant: Tenant) -> list[int]:
    page = (await client.get("/api/v1/invoices", params={"limit": 100}, headers=tenant.headers)).json()
    return sorted(invoice["number"] for invoice in page["data"])


async def test_numbers_count_up_from_one_across_the_organisations_customers(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first, second = await create_customer(client, tenant), await create_customer(client, tenant)
    numbers = [
        (await create_invoice(client, tenant, customer["id"]))["number"]
        for customer in (first, second, first, second, first)
    ]
    assert numbers == [1, 2, 3, 4, 5]


async def test_each_organisation_has_its_own_sequence(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = await create_customer(client, tenant)
    theirs = await create_customer(client, other_tenant)
    sequence = [
        (tenant, mine),
        (tenant, mine),
        (other_tenant, theirs),
        (tenant, mine),
        (other_tenant, theirs),
    ]
    numbers = [(await create_invoice(client, who, customer["id"]))["number"] for who, customer in sequence]
    assert numbers == [1, 2, 1, 3, 2]


async def test_a_deleted_drafts_number_is_never_reused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await create_customer(client, tenant)
    invoices = [await create_invoice(client, tenant, customer["id"]) for _ in range(3)]
    # Deleting the highest number is the case a `max(number) + 1` scheme gets wrong.
    for invoice in (invoices[2], invoices[0]):
        assert (await client.delete(invoice_path(invoice), headers=tenant.headers)).status_code == 204

    fourth = await create_invoice(client, tenant, customer["id"])

    assert fourth["number"] == 4
    assert await _numbers(client, tenant) == [2, 4]


async def test_a_refused_create_does_not_consume_a_number(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await create_customer(client, tenant)
    await create_invoice(client, tenant, customer["id"])
    refused = await client.post(
        f"/api/v1/customers/{customer['id']}/invoices", json=invoice_body(currency="XXZ"), headers=tenant.headers
    )
    assert refused.status_code == 422
    assert (await create_invoice(client, tenant, customer["id"]))["number"] == 2


async def _create_concurrently(
    client: httpx.AsyncClient, jobs: list[tuple[Tenant, dict[str, Any]]]
) -> list[httpx.Response]:
    return await asyncio.gather(
        *(
            client.post(f"/api/v1/customers/{customer['id']}/invoices", json=invoice_body(), headers=who.headers)
            for who, customer in jobs
        )
    )


async def test_twenty_concurrent_creates_get_unique_consecutive_numbers(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    customers = [await create_customer(client, tenant) for _ in range(4)]

    responses = await _create_concurrently(client, [(tenant, customers[i % 4]) for i in range(20)])

    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses if r.status_code != 201]
    assert sorted(r.json()["number"] for r in responses) == list(range(1, 21))
    assert await _numbers(client, tenant) == list(range(1, 21))
    assert (await create_invoice(client, tenant, customers[0]["id"]))["number"] == 21


async def test_concurrent_creates_in_two_organisations_do_not_share_numbers(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = await create_customer(client, tenant)
    theirs = await create_customer(client, other_tenant)

    responses = await _create_concurrently(
        client, [(tenant, mine) if i % 2 else (other_tenant, theirs) for i in range(20)]
    )

    assert [r.status_code for r in responses] == [201] * 20
    assert await _numbers(client, tenant) == list(range(1, 11))
    assert await _numbers(client, other_tenant) == list(range(1, 11))
