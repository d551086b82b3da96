"""Tokens belong to one organisation: another tenant's tokens are 404, never 403."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.tenants import Tenant


async def test_organisation_lists_only_its_own_tokens(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = await client.get("/api/v1/tokens", headers=tenant.headers)
    theirs = await client.get("/api/v1/tokens", headers=other_tenant.headers)
    assert [t["id"] for t in mine.json()["data"]] == [tenant.token_id]
    assert [t["id"] for t in theirs.json()["data"]] == [other_tenant.token_id]


@pytest.mark.parametrize("method", ["GET", "DELETE"])
async def test_another_organisations_token_is_404(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, method: str
) -> None:
    response = await client.request(method, f"/api/v1/tokens/{other_tenant.token_id}", headers=tenant.headers)
    assert response.status_code == 404, response.text
    assert response.json()["code"] == "resource_not_found"
    # Their token was not touched.
    still = await client.get(f"/api/v1/tokens/{other_tenant.token_id}", headers=other_tenant.headers)
    assert still.json()["revoked_at"] is None
    assert (await client.get("/api/v1/me", headers=other_tenant.headers)).status_code == 200


async def test_me_names_the_tokens_own_organisation(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = (await client.get("/api/v1/me", headers=tenant.headers)).json()
    theirs = (await client.get("/api/v1/me", headers=other_tenant.headers)).json()
    assert mine["organization"]["id"] == tenant.organization_id
    assert theirs["organization"]["id"] == other_tenant.organization_id
