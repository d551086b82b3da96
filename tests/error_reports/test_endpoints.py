"""`GET /api/v1/errors`: the `errors:read` scope, organisation scoping, the operator's view, pagination."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from shipyard.error_reports import service
from tests.fixtures.tenants import Tenant, issue_token

URL = "/api/v1/errors"


async def record(app: FastAPI, organization_id: str | None, request_id: str) -> None:
    async with app.state.database.writer() as session:
        service.record(
            session,
            status=500,
            route="/api/v1/customers",
            method="POST",
            request_id=request_id,
            exc=RuntimeError("boom"),
            organization_id=organization_id,
        )
        await session.commit()


@pytest.mark.usefixtures("mcp_app")
async def test_listing_errors_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get(URL)
    assert response.status_code == 401


async def test_listing_errors_needs_the_errors_read_scope(
    mcp_app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    secret, _ = await issue_token(mcp_app, tenant, ["customers:read", "mcp:read"])
    response = await client.get(URL, headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 403
    assert response.json()["missing_scopes"] == ["errors:read"]


async def test_an_organisation_lists_only_its_own_errors(
    mcp_app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await record(mcp_app, tenant.organization_id, "req-mine")
    await record(mcp_app, other_tenant.organization_id, "req-theirs")
    await record(mcp_app, None, "req-nobodys")
    response = await client.get(URL, headers=tenant.headers)
    assert response.status_code == 200
    [item] = response.json()["data"]
    assert item["request_id"] == "req-mine"
    assert item["object"] == "error_report"
    assert item["route"] == "/api/v1/customers"
    assert item["exception_type"] == "RuntimeError"
    assert item["message"] == "boom"


async def test_an_operator_lists_every_error_page_by_page(
    mcp_app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, operator: Tenant
) -> None:
    for organization_id, request_id in (
        (tenant.organization_id, "req-1"),
        (other_tenant.organization_id, "req-2"),
        (None, "req-3"),
    ):
        await record(mcp_app, organization_id, request_id)
    first = (await client.get(URL, params={"limit": 2}, headers=operator.headers)).json()
    second = (
        await client.get(URL, params={"limit": 2, "cursor": first["next_cursor"]}, headers=operator.headers)
    ).json()
    assert [e["request_id"] for e in first["data"]] == ["req-3", "req-2"]
    assert [e["request_id"] for e in second["data"]] == ["req-1"]
    assert second["next_cursor"] is None


@pytest.mark.usefixtures("mcp_app")
async def test_a_cursor_from_another_list_is_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await client.post("/api/v1/customers", json={"name": "A", "email": "a@x.example"}, headers=tenant.headers)
    await client.post("/api/v1/customers", json={"name": "B", "email": "b@x.example"}, headers=tenant.headers)
    cursor = (await client.get("/api/v1/customers", params={"limit": 1}, headers=tenant.headers)).json()["next_cursor"]
    response = await client.get(URL, params={"cursor": cursor}, headers=tenant.headers)
    assert response.status_code == 400
