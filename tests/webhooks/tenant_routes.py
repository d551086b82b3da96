"""The webhooks domain's share of the tenant-isolation test (`tests/test_tenant_isolation.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tests.fixtures.tenant_isolation import OwnList, Part, Route, TenantRoutes, World, views
from tests.fixtures.tenants import Tenant

ENDPOINT = "/api/v1/webhook-endpoints/{endpoint_id}"
DELIVERIES = f"{ENDPOINT}/deliveries"
DELIVERY = f"{DELIVERIES}/{{delivery_id}}"


async def _build(_app: Any, client: httpx.AsyncClient, tenant: Tenant, _before: Mapping[str, str]) -> Part:
    """An endpoint with one (pending) delivery: its ping."""
    body = {
        "url": f"http://127.0.0.1:9/hooks/{tenant.slug}-private-path",
        "event_types": ["invoice.paid"],
        "description": f"private endpoint of {tenant.slug}",
    }
    endpoint = await client.post("/api/v1/webhook-endpoints", json=body, headers=tenant.headers)
    assert endpoint.status_code == 201, endpoint.text
    ping = await client.post(f"/api/v1/webhook-endpoints/{endpoint.json()['id']}/test", headers=tenant.headers)
    assert ping.status_code == 202, ping.text
    created, delivery = endpoint.json(), ping.json()
    return Part(
        values={"endpoint_id": created["id"], "delivery_id": delivery["id"], "event_id": delivery["event_id"]},
        secrets=(created["url"], created["secret"]),
        listed=frozenset({created["id"], delivery["id"], delivery["event_id"]}),
    )


async def _snapshot(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    paths = {
        "endpoint": ENDPOINT,
        "endpoints": "/api/v1/webhook-endpoints",
        "deliveries": DELIVERIES,
        "delivery": DELIVERY,
    }
    return await views(client, world, paths)


TENANT_ROUTES = TenantRoutes(
    routes=(
        Route("GET", ENDPOINT),
        Route("PATCH", ENDPOINT, {"description": "Edited by a stranger"}),
        Route("DELETE", ENDPOINT, ok={204}),
        Route("POST", f"{ENDPOINT}/rotate-secret"),
        Route("POST", f"{ENDPOINT}/test", ok={202}),
        Route("GET", DELIVERIES),
        Route("GET", DELIVERY),
        Route("POST", f"{DELIVERY}/redeliver", ok={202}),
        Route("POST", f"{ENDPOINT}/redeliver", {"since": "2020-01-01T00:00:00Z"}, ok={202}),
    ),
    missing={"endpoint_id": f"we_{'0' * 26}", "delivery_id": f"whd_{'0' * 26}"},
    nested=(("endpoint_id", "delivery_id"),),
    build=_build,
    snapshot=_snapshot,
    lists=(("/api/v1/webhook-endpoints", {}),),
    own_lists=(OwnList("/api/v1/webhook-endpoints", ("endpoint_id",)),),
    # Endpoints on loopback are allowed (nothing is delivered: jobs do not run in these tests).
    settings={"webhook_allowed_networks": ["127.0.0.0/8"]},
)
