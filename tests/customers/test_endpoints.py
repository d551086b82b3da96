from __future__ import annotations

import httpx

from tests.fixtures.tenants import Tenant


async def test_created_customer_can_be_read_back(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post(
        "/api/v1/customers", json={"name": "Ada", "email": "ada@example.com"}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    read = await client.get(f"/api/v1/customers/{customer_id}", headers=tenant.headers)
    assert read.status_code == 200
    assert read.json()["email"] == "ada@example.com"
    assert read.headers["etag"] == created.headers["etag"]
