"""Browser sessions' share of the tenant-isolation test (`tests/test_tenant_isolation.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from shipyard.auth.sessions.store import NewSession
from tests.fixtures.tenant_isolation import Part, Route, TenantRoutes, World, views
from tests.fixtures.tenants import Tenant


async def _build(app: Any, _client: httpx.AsyncClient, tenant: Tenant, _before: Mapping[str, str]) -> Part:
    """The owner signed in with a browser (sessions belong to a person, within their organisation)."""
    async with app.state.database.writer() as db:
        new = NewSession(
            tenant.user_id, tenant.organization_id, "google", None, None, remember=False, id_token_hint=None
        )
        issued = await app.state.session_store.create_session(db, new)
        await db.commit()
    return Part(values={"session_id": issued.session_id})


async def _snapshot(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    return await views(client, world, {"sessions": "/api/v1/me/sessions"})


TENANT_ROUTES = TenantRoutes(
    # Sessions belong to a person: another organisation's member is a stranger to them too.
    routes=(Route("DELETE", "/api/v1/me/sessions/{session_id}", ok={204}),),
    missing={"session_id": f"ses_{'0' * 26}"},
    build=_build,
    snapshot=_snapshot,
)
