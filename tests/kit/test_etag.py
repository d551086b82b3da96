"""Strong ETags on reads; If-Match on PATCH and DELETE (412 when stale, 428 when required and absent)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.fixtures.problems import assert_problem
from tests.fixtures.tenants import Tenant
from tests.kit.conftest import ClientFactory

CUSTOMERS = "/api/v1/customers"
INVOICE = {"currency": "EUR", "line_items": [{"description": "Hours", "quantity": 2, "unit_amount": 500}]}


async def _create(client: httpx.AsyncClient, tenant: Tenant) -> tuple[str, str]:
    created = await client.post(CUSTOMERS, json={"name": "Ada", "email": "ada@example.com"}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    return f"{CUSTOMERS}/{created.json()['id']}", created.headers["etag"]


async def test_get_returns_a_strong_etag(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url, created_etag = await _create(client, tenant)
    read = await client.get(url, headers=tenant.headers)
    etag = read.headers["etag"]
    assert not etag.startswith("W/")
    assert etag.startswith('"')
    assert etag.endswith('"')
    assert etag == created_etag
    again = await client.get(url, headers=tenant.headers)
    assert again.headers["etag"] == etag


async def test_patch_with_current_etag_succeeds_and_changes_it(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url, etag = await _create(client, tenant)
    patched = await client.patch(url, json={"name": "Ada L."}, headers={**tenant.headers, "If-Match": etag})
    assert patched.status_code == 200, patched.text
    assert patched.json()["name"] == "Ada L."
    assert patched.headers["etag"] != etag
    read = await client.get(url, headers=tenant.headers)
    assert read.headers["etag"] == patched.headers["etag"]


async def test_patch_with_stale_etag_is_412_and_changes_nothing(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url, stale = await _create(client, tenant)
    first = await client.patch(url, json={"name": "First"}, headers={**tenant.headers, "If-Match": stale})
    assert first.status_code == 200, first.text
    second = await client.patch(url, json={"name": "Second"}, headers={**tenant.headers, "If-Match": stale})
    body = assert_problem(second, 412, "precondition_failed")
    assert body["current_etag"] == first.headers["etag"]
    read = await client.get(url, headers=tenant.headers)
    assert read.json()["name"] == "First"


async def test_delete_with_stale_etag_is_412_and_keeps_the_resource(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url, stale = await _create(client, tenant)
    await client.patch(url, json={"name": "Changed"}, headers=tenant.headers)
    response = await client.delete(url, headers={**tenant.headers, "If-Match": stale})
    assert_problem(response, 412, "precondition_failed")
    assert (await client.get(url, headers=tenant.headers)).status_code == 200


async def test_delete_with_current_etag_succeeds(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url, etag = await _create(client, tenant)
    response = await client.delete(url, headers={**tenant.headers, "If-Match": etag})
    assert response.status_code == 204, response.text
    assert (await client.get(url, headers=tenant.headers)).status_code == 404


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
async def test_if_match_star_matches_any_current_version(
    client: httpx.AsyncClient, tenant: Tenant, method: str
) -> None:
    url, _ = await _create(client, tenant)
    await client.patch(url, json={"name": "Changed"}, headers=tenant.headers)
    kwargs: dict[str, Any] = {"json": {"name": "Star"}} if method == "PATCH" else {}
    response = await client.request(method, url, headers={**tenant.headers, "If-Match": "*"}, **kwargs)
    assert response.status_code in {200, 204}, response.text


async def test_if_match_list_containing_the_current_etag_succeeds(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url, etag = await _create(client, tenant)
    response = await client.patch(
        url, json={"name": "Listed"}, headers={**tenant.headers, "If-Match": f'"other.9", {etag}'}
    )
    assert response.status_code == 200, response.text


async def test_weak_etag_never_satisfies_if_match(client: httpx.AsyncClient, tenant: Tenant) -> None:
    # RFC 9110 §13.1.1: If-Match uses the strong comparison.
    url, etag = await _create(client, tenant)
    response = await client.patch(url, json={"name": "Weak"}, headers={**tenant.headers, "If-Match": f"W/{etag}"})
    assert_problem(response, 412, "precondition_failed")


async def test_invoice_patch_with_stale_etag_is_412(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url, _ = await _create(client, tenant)
    invoice = await client.post(f"{url}/invoices", json=INVOICE, headers=tenant.headers)
    assert invoice.status_code == 201, invoice.text
    invoice_url = f"{url}/invoices/{invoice.json()['id']}"
    stale = invoice.headers["etag"]
    assert (await client.get(invoice_url, headers=tenant.headers)).headers["etag"] == stale
    changed = await client.patch(invoice_url, json={"memo": "one"}, headers={**tenant.headers, "If-Match": stale})
    assert changed.status_code == 200, changed.text
    assert changed.headers["etag"] != stale
    response = await client.patch(invoice_url, json={"memo": "two"}, headers={**tenant.headers, "If-Match": stale})
    assert_problem(response, 412, "precondition_failed")


async def test_missing_if_match_is_428_when_required(make_client: ClientFactory, tenant: Tenant) -> None:
    _, client = await make_client(require_if_match=True)
    url, etag = await _create(client, tenant)
    patch = await client.patch(url, json={"name": "No precondition"}, headers=tenant.headers)
    assert_problem(patch, 428, "precondition_required")
    delete = await client.delete(url, headers=tenant.headers)
    assert_problem(delete, 428, "precondition_required")
    allowed = await client.patch(url, json={"name": "With precondition"}, headers={**tenant.headers, "If-Match": etag})
    assert allowed.status_code == 200, allowed.text


async def test_missing_if_match_is_allowed_by_default(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url, _ = await _create(client, tenant)
    response = await client.patch(url, json={"name": "Unconditional"}, headers=tenant.headers)
    assert response.status_code == 200, response.text


async def test_if_match_split_over_several_header_fields_is_one_list(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url, etag = await _create(client, tenant)
    headers = [*tenant.headers.items(), ("If-Match", '"other.9"'), ("If-Match", etag)]
    response = await client.patch(url, json={"name": "Second field"}, headers=headers)
    assert response.status_code == 200, response.text


async def test_concurrent_patches_with_the_same_etag_apply_one(client: httpx.AsyncClient, tenant: Tenant) -> None:
    url, etag = await _create(client, tenant)
    names = [f"Writer {n}" for n in range(4)]
    responses = await asyncio.gather(
        *(client.patch(url, json={"name": name}, headers={**tenant.headers, "If-Match": etag}) for name in names)
    )
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [r.text for r in responses]
    for loser in (r for r in responses if r.status_code != 200):
        assert loser.status_code in {409, 412}, loser.text
        assert loser.json()["code"] in {"precondition_failed", "concurrent_update"}
    current = await client.get(url, headers=tenant.headers)
    assert current.json()["name"] == winners[0].json()["name"]
    assert current.headers["etag"] == winners[0].headers["etag"]
