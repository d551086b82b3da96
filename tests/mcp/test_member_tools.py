"""`member_counts_by_role` and `pending_invitations`: read-only team questions, scoped to the organisation."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI
from mcp.client import Client

from shipyard.models import Role
from tests.fixtures.mcp import mcp_session
from tests.fixtures.tenants import Tenant, add_member, issue_token


async def call(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments or {})
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert result.is_error is False, text
    assert result.structured_content is not None
    return {**result.structured_content, "_text": text}


async def _invite(client: httpx.AsyncClient, tenant: Tenant, email: str, role: str) -> dict[str, Any]:
    response = await client.post("/api/v1/invitations", json={"email": email, "role": role}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_member_counts_by_role_counts_the_organisations_members_only(
    base_url: str, mcp_app: FastAPI, tenant: Tenant, other_tenant: Tenant
) -> None:
    await add_member(mcp_app, tenant, "a1@acme-staff.com", Role.ADMIN)
    await add_member(mcp_app, tenant, "v1@acme-staff.com", Role.VIEWER)
    await add_member(mcp_app, tenant, "v2@acme-staff.com", Role.VIEWER)
    await add_member(mcp_app, other_tenant, "m1@globex-staff.com", Role.MEMBER)

    async with mcp_session(base_url, tenant.token) as client:
        counts = await call(client, "member_counts_by_role")

    assert {k: counts[k] for k in ("owner", "admin", "member", "viewer", "total")} == {
        "owner": 1,
        "admin": 1,
        "member": 0,
        "viewer": 2,
        "total": 4,
    }
    assert counts["_text"] == "4 member(s): 1 owner(s), 1 admin(s), 0 member(s), 2 viewer(s)."


async def test_pending_invitations_lists_open_ones_without_their_links(
    base_url: str, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    kept = await _invite(client, tenant, "grace@acme-staff.com", "member")
    revoked = await _invite(client, tenant, "eve@acme-staff.com", "viewer")
    await client.delete(f"/api/v1/invitations/{revoked['id']}", headers=tenant.headers)
    theirs = await _invite(client, other_tenant, "zed@globex-staff.com", "admin")

    async with mcp_session(base_url, tenant.token) as mcp:
        answer = await call(mcp, "pending_invitations", {"limit": 10})

    assert [(i["id"], i["email"], i["role"], i["status"]) for i in answer["invitations"]] == [
        (kept["id"], "grace@acme-staff.com", "member", "pending")
    ]
    assert answer["has_more"] is False
    dumped = json.dumps(answer)
    assert theirs["id"] not in dumped
    assert "token" not in dumped


async def test_a_viewer_counts_members_but_may_not_list_invitations(
    base_url: str, mcp_app: FastAPI, tenant: Tenant
) -> None:
    viewer = await add_member(mcp_app, tenant, "v1@acme-staff.com", Role.VIEWER)
    token, _ = await issue_token(mcp_app, tenant, ["mcp:read", "members:read"], user_id=viewer)

    async with mcp_session(base_url, token) as client:
        counts = await client.call_tool("member_counts_by_role", {})
        invitations = await client.call_tool("pending_invitations", {})

    assert counts.is_error is False
    assert invitations.is_error is True
    assert "members:write" in " ".join(getattr(block, "text", "") for block in invitations.content)
