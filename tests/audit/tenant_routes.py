"""The audit log's share of the tenant-isolation test (`tests/test_tenant_isolation.py`): no routes of its own."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.tenant_isolation import TenantRoutes, World, views


async def _snapshot(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    return await views(client, world, {"audit_events": "/api/v1/audit-events?limit=100"})


TENANT_ROUTES = TenantRoutes(
    snapshot=_snapshot,
    lists=(
        ("/api/v1/audit-events", {"limit": 100}),
        ("/api/v1/audit-events", {"target_id": "{customer_id}"}),
        ("/api/v1/audit-events", {"target_id": "{endpoint_id}"}),
    ),
)
