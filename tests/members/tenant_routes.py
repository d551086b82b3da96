"""The members domain's share of the tenant-isolation test (`tests/test_tenant_isolation.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from shipyard.models import Role
from tests.fixtures.tenant_isolation import Part, Route, TenantRoutes, World, views
from tests.fixtures.tenants import Tenant, add_member

MEMBER = "/api/v1/members/{member_id}"
INVITATION = "/api/v1/invitations/{invitation_id}"


async def _build(app: Any, client: httpx.AsyncClient, tenant: Tenant, _before: Mapping[str, str]) -> Part:
    """A second person (a member, so an owner may demote or remove them) and an open invitation."""
    user_id = await add_member(app, tenant, f"colleague@{tenant.slug}-staff.com", Role.MEMBER)
    members = (await client.get("/api/v1/members", headers=tenant.headers)).json()["data"]
    body = {"email": f"newcomer@{tenant.slug}-staff.com", "role": "viewer"}
    invitation = await client.post("/api/v1/invitations", json=body, headers=tenant.headers)
    assert invitation.status_code == 201, invitation.text
    member_id = next(m["id"] for m in members if m["user_id"] == user_id)
    return Part(
        values={"member_id": member_id, "invitation_id": invitation.json()["id"]},
        secrets=(invitation.json()["email"],),
        listed=frozenset({member_id, invitation.json()["id"]}),
    )


async def _snapshot(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    return await views(client, world, {"members": "/api/v1/members", "invitations": "/api/v1/invitations"})


TENANT_ROUTES = TenantRoutes(
    routes=(
        Route("GET", MEMBER),
        Route("PATCH", MEMBER, {"role": "viewer"}),
        Route("DELETE", MEMBER, ok={204}),
        Route("DELETE", INVITATION),
        Route("POST", f"{INVITATION}/resend"),
    ),
    missing={"member_id": f"mem_{'0' * 26}", "invitation_id": f"ivt_{'0' * 26}"},
    build=_build,
    snapshot=_snapshot,
    lists=(("/api/v1/members", {}), ("/api/v1/invitations", {})),
)
