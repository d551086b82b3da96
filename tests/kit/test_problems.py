"""Every error is an RFC 9457 problem with `code` and `request_id` (issue 2 §8)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.fixtures.problems import assert_problem
from tests.fixtures.tenants import Tenant, issue_token
from tests.kit.conftest import PROBE, Probes

CUSTOMERS = "/api/v1/customers"


async def _customer(client: httpx.AsyncClient, tenant: Tenant) -> str:
    created = await client.post(CUSTOMERS, json={"name": "Ada", "email": "ada@example.com"}, headers=tenant.headers)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _invoice_body(quantity: Any = 2) -> dict[str, Any]:
    return {"currency": "EUR", "line_items": [{"description": "Hours", "quantity": quantity, "unit_amount": 500}]}


async def test_malformed_cursor_is_400_invalid_cursor(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(CUSTOMERS, params={"cursor": "!!!"}, headers=tenant.headers)
    assert_problem(response, 400, "invalid_cursor")


async def test_malformed_idempotency_key_is_400(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        CUSTOMERS,
        json={"name": "Ada", "email": "ada@example.com"},
        headers={**tenant.headers, "Idempotency-Key": "k" * 256},
    )
    assert_problem(response, 400, "idempotency_key_invalid")


async def test_missing_token_is_401_with_bearer_challenge(client: httpx.AsyncClient, tenant: Tenant) -> None:  # noqa: ARG001 - a tenant exists
    response = await client.get(CUSTOMERS)
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer ")


@pytest.mark.parametrize(
    "authorization",
    ["Bearer shp_notarealtoken_0000", "Bearer garbage", "Basic dXNlcjpwdw=="],
    ids=["unknown", "malformed", "wrong-scheme"],
)
async def test_bad_token_is_401_with_bearer_challenge(
    client: httpx.AsyncClient,
    tenant: Tenant,  # noqa: ARG001 - a tenant exists
    authorization: str,
) -> None:
    response = await client.get(CUSTOMERS, headers={"Authorization": authorization})
    assert_problem(response, 401, "invalid_token")
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge


async def test_missing_scope_is_403_naming_the_scope(app: FastAPI, client: httpx.AsyncClient, tenant: Tenant) -> None:
    secret, _ = await issue_token(app, tenant, ["customers:read"])
    response = await client.post(
        CUSTOMERS, json={"name": "Ada", "email": "ada@example.com"}, headers={"Authorization": f"Bearer {secret}"}
    )
    body = assert_problem(response, 403, "insufficient_scope")
    assert "customers:write" in body["detail"]
    assert body["missing_scopes"] == ["customers:write"]


async def test_unknown_route_is_404_problem(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get("/api/v1/no-such-thing", headers=tenant.headers)
    assert_problem(response, 404, "not_found")


async def test_unknown_id_is_404_resource_not_found(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(f"{CUSTOMERS}/cus_doesnotexist", headers=tenant.headers)
    body = assert_problem(response, 404, "resource_not_found")
    assert "cus_doesnotexist" in body["detail"]


async def test_wrong_method_is_405_with_allow_header(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.put(CUSTOMERS, json={}, headers=tenant.headers)
    assert_problem(response, 405, "method_not_allowed")
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert {"GET", "POST"} <= allowed


async def test_paying_a_draft_invoice_is_409_invalid_state_transition(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    customer_id = await _customer(client, tenant)
    invoice = await client.post(f"{CUSTOMERS}/{customer_id}/invoices", json=_invoice_body(), headers=tenant.headers)
    assert invoice.status_code == 201, invoice.text
    response = await client.post(
        f"{CUSTOMERS}/{customer_id}/invoices/{invoice.json()['id']}/pay", headers=tenant.headers
    )
    body = assert_problem(response, 409, "invalid_state_transition")
    assert body["current_status"] == "draft"
    still = await client.get(f"{CUSTOMERS}/{customer_id}/invoices/{invoice.json()['id']}", headers=tenant.headers)
    assert still.json()["status"] == "draft"


@pytest.mark.parametrize("quantity", [0, False, "2", 1.5], ids=["zero", "false", "string", "float"])
async def test_invalid_quantity_is_422_with_json_pointer(
    client: httpx.AsyncClient, tenant: Tenant, quantity: object
) -> None:
    customer_id = await _customer(client, tenant)
    response = await client.post(
        f"{CUSTOMERS}/{customer_id}/invoices", json=_invoice_body(quantity), headers=tenant.headers
    )
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"], body
    assert all(set(error) >= {"detail", "pointer"} for error in body["errors"])
    assert {error["pointer"] for error in body["errors"]} == {"#/line_items/0/quantity"}


async def test_every_invalid_field_is_listed(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(CUSTOMERS, json={"name": "", "email": "not-an-email"}, headers=tenant.headers)
    body = assert_problem(response, 422, "validation_failed")
    assert {error["pointer"] for error in body["errors"]} == {"#/name", "#/email"}


async def test_malformed_json_is_422_pointing_at_the_document(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(
        CUSTOMERS, content=b'{"name": "Ada",', headers={**tenant.headers, "Content-Type": "application/json"}
    )
    body = assert_problem(response, 422, "validation_failed")
    assert [error["pointer"] for error in body["errors"]] == ["#"]


async def test_invalid_query_parameter_names_the_parameter(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(CUSTOMERS, params={"limit": "1000"}, headers=tenant.headers)
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["parameter"] == "limit"
    assert body["errors"][0]["location"] == "query"


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_unhandled_exception_is_500_without_leaking_it(
    client: httpx.AsyncClient, probes: Probes, tenant: Tenant, method: str
) -> None:
    response = await client.request(method, f"{PROBE}/boom", headers={**tenant.headers, "X-Request-ID": "boom-1"})
    assert probes.calls["boom"] == 1
    body = assert_problem(response, 500, "internal_error")
    assert body["request_id"] == "boom-1"
    assert "secret-value-xyz" not in response.text
    assert "Traceback" not in response.text
    assert "RuntimeError" not in response.text
