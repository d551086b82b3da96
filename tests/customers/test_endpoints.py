"""Customers over HTTP: create, read, update, archive, and what the API refuses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.fixtures.billing import create_customer, create_invoice, invoice_body
from tests.fixtures.tenants import Tenant

CUSTOMERS = "/api/v1/customers"


def _pointers(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "validation_failed"
    return [error.get("pointer") for error in problem["errors"]]


async def test_created_customer_can_be_read_back(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post(CUSTOMERS, json={"name": "Ada", "email": "ada@example.com"}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    read = await client.get(f"{CUSTOMERS}/{customer_id}", headers=tenant.headers)
    assert read.status_code == 200
    assert read.json()["email"] == "ada@example.com"
    assert read.headers["etag"] == created.headers["etag"]


async def test_create_answers_201_with_location_of_the_new_customer(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = {"name": "Grace Hopper", "email": "grace@example.com", "metadata": {"crm_id": "42"}}
    created = await client.post(CUSTOMERS, json=body, headers=tenant.headers)
    assert created.status_code == 201, created.text
    customer = created.json()
    assert customer["id"].startswith("cus_")
    assert customer["object"] == "customer"
    assert customer["name"] == "Grace Hopper"
    assert customer["email"] == "grace@example.com"
    assert customer["metadata"] == {"crm_id": "42"}
    assert created.headers["location"] == f"{CUSTOMERS}/{customer['id']}"
    fetched = await client.get(created.headers["location"], headers=tenant.headers)
    assert fetched.status_code == 200
    assert fetched.json() == customer


async def test_metadata_defaults_to_an_empty_object(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await create_customer(client, tenant)
    assert customer["metadata"] == {}


@pytest.mark.parametrize(
    "email",
    ["not-an-email", "ada@", "@example.com", "ada@@example.com", "ada example@example.com", ""],
)
async def test_invalid_email_is_422_pointing_at_email(client: httpx.AsyncClient, tenant: Tenant, email: str) -> None:
    response = await client.post(CUSTOMERS, json={"name": "Ada", "email": email}, headers=tenant.headers)
    assert _pointers(response) == ["#/email"]


async def test_missing_email_is_422_pointing_at_email(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(CUSTOMERS, json={"name": "Ada"}, headers=tenant.headers)
    assert _pointers(response) == ["#/email"]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"name": 123, "email": "ada@example.com"}, "#/name"),
        ({"name": True, "email": "ada@example.com"}, "#/name"),
        ({"name": ["Ada"], "email": "ada@example.com"}, "#/name"),
        ({"name": "Ada", "email": 42}, "#/email"),
        ({"name": "", "email": "ada@example.com"}, "#/name"),
        ({"name": "x" * 201, "email": "ada@example.com"}, "#/name"),
        ({"name": "Ada", "email": "ada@example.com", "metadata": {"n": 1}}, "#/metadata/n"),
        ({"name": "Ada", "email": "ada@example.com", "metadata": {"n": None}}, "#/metadata/n"),
        ({"name": "Ada", "email": "ada@example.com", "metadata": ["a"]}, "#/metadata"),
        ({"name": "Ada", "email": "ada@example.com", "plan": "gold"}, "#/plan"),
    ],
)
async def test_wrongly_typed_or_unknown_fields_are_422(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], pointer: str
) -> None:
    response = await client.post(CUSTOMERS, json=body, headers=tenant.headers)
    assert pointer in _pointers(response)


async def test_metadata_accepts_fifty_keys_at_their_maximum_sizes(client: httpx.AsyncClient, tenant: Tenant) -> None:
    metadata = {f"{i:02d}".ljust(40, "k"): "v" * 500 for i in range(50)}
    customer = await create_customer(client, tenant, metadata=metadata)
    assert customer["metadata"] == metadata


@pytest.mark.parametrize(
    ("metadata", "pointer"),
    [
        ({f"k{i}": "v" for i in range(51)}, "#/metadata"),
        ({"k" * 41: "v"}, "#/metadata/" + "k" * 41 + "/[key]"),
        ({"": "v"}, "#/metadata//[key]"),
        ({"k": "v" * 501}, "#/metadata/k"),
    ],
    ids=["51-keys", "key-41-chars", "empty-key", "value-501-chars"],
)
async def test_metadata_over_its_limits_is_422(
    client: httpx.AsyncClient, tenant: Tenant, metadata: dict[str, str], pointer: str
) -> None:
    body = {"name": "Ada", "email": "ada@example.com", "metadata": metadata}
    response = await client.post(CUSTOMERS, json=body, headers=tenant.headers)
    assert pointer in _pointers(response)
    assert (await client.get(CUSTOMERS, headers=tenant.headers)).json()["data"] == []


async def test_patch_changes_only_the_fields_sent(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await create_customer(client, tenant, name="Ada", email="ada@example.com", metadata={"a": "1"})
    path = f"{CUSTOMERS}/{customer['id']}"
    before = await client.get(path, headers=tenant.headers)

    patched = await client.patch(path, json={"name": "Ada Lovelace"}, headers=tenant.headers)

    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"] == "Ada Lovelace"
    assert body["email"] == "ada@example.com"
    assert body["metadata"] == {"a": "1"}
    assert datetime.fromisoformat(body["updated_at"]) > datetime.fromisoformat(customer["updated_at"])
    assert body["created_at"] == customer["created_at"]
    assert patched.headers["etag"] != before.headers["etag"]
    assert (await client.get(path, headers=tenant.headers)).json() == body


async def test_patch_replaces_metadata_and_email(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await create_customer(client, tenant, metadata={"a": "1", "b": "2"})
    path = f"{CUSTOMERS}/{customer['id']}"
    patched = await client.patch(
        path, json={"email": "new@example.com", "metadata": {"c": "3"}}, headers=tenant.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["email"] == "new@example.com"
    assert patched.json()["metadata"] == {"c": "3"}


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"email": "nope"}, "#/email"),
        ({"name": 123}, "#/name"),
        ({"metadata": {"k": 1}}, "#/metadata/k"),
        ({"id": "cus_other"}, "#/id"),
    ],
)
async def test_invalid_patch_is_422_and_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant, body: dict[str, Any], pointer: str
) -> None:
    customer = await create_customer(client, tenant)
    path = f"{CUSTOMERS}/{customer['id']}"
    response = await client.patch(path, json=body, headers=tenant.headers)
    assert pointer in _pointers(response)
    assert (await client.get(path, headers=tenant.headers)).json() == customer


async def test_archived_customer_is_gone_from_reads_lists_and_writes(client: httpx.AsyncClient, tenant: Tenant) -> None:
    kept = await create_customer(client, tenant)
    archived = await create_customer(client, tenant)
    path = f"{CUSTOMERS}/{archived['id']}"

    deleted = await client.delete(path, headers=tenant.headers)

    assert deleted.status_code == 204
    assert deleted.content == b""
    read = await client.get(path, headers=tenant.headers)
    assert read.status_code == 404
    assert read.json()["code"] == "resource_not_found"
    listed = await client.get(CUSTOMERS, headers=tenant.headers)
    assert [c["id"] for c in listed.json()["data"]] == [kept["id"]]
    by_email = await client.get(CUSTOMERS, params={"email": archived["email"]}, headers=tenant.headers)
    assert by_email.json()["data"] == []
    assert (await client.patch(path, json={"name": "Back"}, headers=tenant.headers)).status_code == 404
    assert (await client.delete(path, headers=tenant.headers)).status_code == 404
    new_invoice = await client.post(f"{path}/invoices", json=invoice_body(), headers=tenant.headers)
    assert new_invoice.status_code == 404


async def test_archiving_keeps_the_customers_invoices(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await create_customer(client, tenant)
    invoice = await create_invoice(client, tenant, customer["id"])
    assert (await client.delete(f"{CUSTOMERS}/{customer['id']}", headers=tenant.headers)).status_code == 204
    listed = await client.get("/api/v1/invoices", headers=tenant.headers)
    assert [i["id"] for i in listed.json()["data"]] == [invoice["id"]]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_unknown_customer_is_404_problem(client: httpx.AsyncClient, tenant: Tenant, method: str) -> None:
    kwargs: dict[str, Any] = {"json": {"name": "X"}} if method == "PATCH" else {}
    response = await client.request(
        method, f"{CUSTOMERS}/cus_01HZZZZZZZZZZZZZZZZZZZZZZZ", headers=tenant.headers, **kwargs
    )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "resource_not_found"
