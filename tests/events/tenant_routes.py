"""The events list's share of the tenant-isolation test (`tests/test_tenant_isolation.py`): no routes of its own."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.tenant_isolation import OwnList, TenantRoutes, World, views


async def _snapshot(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    return await views(client, world, {"events": "/api/v1/events"})


TENANT_ROUTES = TenantRoutes(
    snapshot=_snapshot,
    lists=(("/api/v1/events", {}), ("/api/v1/events", {"type": "ping"})),
    # The webhooks domain's ping is an event of the tenant's own.
    own_lists=(OwnList("/api/v1/events", ("event_id",), exactly=False),),
)
