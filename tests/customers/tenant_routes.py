"""The customers domain's share of the tenant-isolation test (`tests/test_tenant_isolation.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tests.fixtures.billing import create_customer
from tests.fixtures.tenant_isolation import Part, Route, TenantRoutes, World, views
from tests.fixtures.tenants import Tenant

CUSTOMER = "/api/v1/customers/{customer_id}"


async def _build(_app: Any, client: httpx.AsyncClient, tenant: Tenant, _before: Mapping[str, str]) -> Part:
    customer = await create_customer(client, tenant, name=f"Secret {tenant.slug}", email=f"vip@{tenant.slug}.example")
    return Part(
        values={"customer_id": customer["id"], "customer_email": customer["email"]},
        secrets=(customer["name"], customer["email"]),
        listed=frozenset({customer["id"]}),
    )


async def _snapshot(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    return await views(client, world, {"customer": CUSTOMER, "customers": "/api/v1/customers"})


TENANT_ROUTES = TenantRoutes(
    routes=(
        Route("GET", CUSTOMER),
        Route("PATCH", CUSTOMER, {"name": "Renamed by a stranger"}),
        Route("DELETE", CUSTOMER, ok={204}),
    ),
    missing={"customer_id": f"cus_{'0' * 26}"},
    build=_build,
    snapshot=_snapshot,
    lists=(("/api/v1/customers", {}), ("/api/v1/customers", {"email": "{customer_email}"})),
)
