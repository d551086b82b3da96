"""Identity's share of the tenant-isolation test (`tests/test_tenant_isolation.py`): API tokens."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from tests.fixtures.tenant_isolation import Part, Route, TenantRoutes, World
from tests.fixtures.tenants import Tenant, issue_token

TOKEN = "/api/v1/tokens/{token_id}"


async def _build(app: Any, _client: httpx.AsyncClient, tenant: Tenant, _before: Mapping[str, str]) -> Part:
    """A spare token (besides the one the tenant calls with)."""
    _, token_id = await issue_token(app, tenant, ["customers:read"])
    return Part(values={"token_id": token_id}, listed=frozenset({token_id, tenant.token_id}))


async def _snapshot(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    # Minus the usage stamps, which the owner's own reads move.
    token = (await client.get(TOKEN.format(**world.values), headers=world.tenant.headers)).json()
    return {"token": {key: value for key, value in token.items() if not key.startswith("last_used")}}


TENANT_ROUTES = TenantRoutes(
    routes=(Route("GET", TOKEN), Route("DELETE", TOKEN)),
    missing={"token_id": f"tok_{'0' * 26}"},
    build=_build,
    snapshot=_snapshot,
    lists=(("/api/v1/tokens", {}),),
)
