"""The members API: listing, roles, removal and leaving, and the owner rules."""

from __future__ import annotations

from typing import Any

import httpx

from shipyard.models import Role
from tests.fixtures.tenants import Tenant
from tests.members.conftest import audit_actions, join, owner_member_id

IDEMPOTENT = {"Idempotency-Key": "change-role-1"}


async def test_the_list_pages_oldest_first_with_the_contracts_fields(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    ada = await join(app, client, tenant, "ada@example.com", Role.ADMIN)
    await join(app, client, tenant, "bob@example.com", Role.VIEWER)

    first = await client.get("/api/v1/members", params={"limit": 2}, headers=tenant.headers)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [m["role"] for m in page["data"]] == ["owner", "admin"]
    assert set(page["data"][1]) == {"id", "user_id", "email", "name", "role", "created_at", "updated_at"}
    assert page["data"][1]["email"] == "ada@example.com"
    assert page["data"][1]["id"] == ada.member_id
    rest = await client.get("/api/v1/members", params={"cursor": page["next_cursor"]}, headers=tenant.headers)
    assert [m["email"] for m in rest.json()["data"]] == ["bob@example.com"]
    assert rest.json()["next_cursor"] is None

    one = await client.get(f"/api/v1/members/{ada.member_id}", headers=tenant.headers)
    assert one.json() == page["data"][1]


async def test_a_viewer_reads_members_but_cannot_change_them(app: Any, client: httpx.AsyncClient, tenant: Tenant) -> None:
    viewer = await join(app, client, tenant, "vic@example.com", Role.VIEWER)
    member = await join(app, client, tenant, "mo@example.com", Role.MEMBER)

    assert (await client.get("/api/v1/members", headers=viewer.headers)).status_code == 200
    refused = await client.patch(f"/api/v1/members/{member.member_id}", json={"role": "viewer"}, headers=viewer.headers)
    assert refused.status_code == 403
    assert refused.json()["missing_scopes"] == ["members:write"]
    removal = await client.delete(f"/api/v1/members/{member.member_id}", headers=viewer.headers)
    assert removal.status_code == 403
    assert removal.json()["code"] == "insufficient_scope"


async def test_an_admin_changes_a_role_idempotently_and_it_is_audited(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    admin = await join(app, client, tenant, "ada@example.com", Role.ADMIN)
    member = await join(app, client, tenant, "mo@example.com", Role.MEMBER)
    path = f"/api/v1/members/{member.member_id}"

    changed = await client.patch(path, json={"role": "viewer"}, headers={**admin.headers, **IDEMPOTENT})
    replayed = await client.patch(path, json={"role": "viewer"}, headers={**admin.headers, **IDEMPOTENT})

    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "viewer"
    assert replayed.json() == changed.json()
    assert (await audit_actions(app, tenant.organization_id)).count("member.role_changed") == 1
    same = await client.patch(path, json={"role": "viewer"}, headers=admin.headers)
    assert same.status_code == 200
    assert (await audit_actions(app, tenant.organization_id)).count("member.role_changed") == 1


async def test_only_an_owner_makes_or_touches_an_owner(app: Any, client: httpx.AsyncClient, tenant: Tenant) -> None:
    admin = await join(app, client, tenant, "ada@example.com", Role.ADMIN)
    member = await join(app, client, tenant, "mo@example.com", Role.MEMBER)
    owner_id = await owner_member_id(client, tenant)

    promote = await client.patch(f"/api/v1/members/{member.member_id}", json={"role": "owner"}, headers=admin.headers)
    demote = await client.patch(f"/api/v1/members/{owner_id}", json={"role": "member"}, headers=admin.headers)
    remove = await client.delete(f"/api/v1/members/{owner_id}", headers=admin.headers)

    assert [r.status_code for r in (promote, demote, remove)] == [403, 403, 403]
    assert {r.json()["code"] for r in (promote, demote, remove)} == {"owner_required"}
    by_owner = await client.patch(f"/api/v1/members/{member.member_id}", json={"role": "owner"}, headers=tenant.headers)
    assert by_owner.json()["role"] == "owner"


async def test_the_last_owner_can_neither_be_demoted_nor_removed_nor_leave(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    owner_id = await owner_member_id(client, tenant)
    path = f"/api/v1/members/{owner_id}"

    demoted = await client.patch(path, json={"role": "admin"}, headers=tenant.headers)
    left = await client.delete(path, headers=tenant.headers)

    assert (demoted.status_code, demoted.json()["code"]) == (409, "last_owner")
    assert (left.status_code, left.json()["code"]) == (409, "last_owner")
    # With a second owner, the first may step down.
    second = await join(app, client, tenant, "sam@example.com", Role.OWNER)
    assert (await client.patch(path, json={"role": "admin"}, headers=tenant.headers)).status_code == 200
    # Now the second is the last one.
    last = await client.delete(f"/api/v1/members/{second.member_id}", headers=second.headers)
    assert last.json()["code"] == "last_owner"


async def test_removing_a_member_revokes_their_tokens_and_is_audited(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    member = await join(app, client, tenant, "mo@example.com", Role.MEMBER)
    assert (await client.get("/api/v1/customers", headers=member.headers)).status_code == 200

    removed = await client.delete(f"/api/v1/members/{member.member_id}", headers=tenant.headers)

    assert removed.status_code == 204
    assert (await client.get("/api/v1/customers", headers=member.headers)).status_code == 401
    token = await client.get(f"/api/v1/tokens/{member.token_id}", headers=tenant.headers)
    assert token.json()["revoked_at"] is not None
    actions = await audit_actions(app, tenant.organization_id)
    assert "member.removed" in actions
    assert "token.revoked" in actions
    gone = await client.get(f"/api/v1/members/{member.member_id}", headers=tenant.headers)
    assert gone.status_code == 404


async def test_a_member_with_members_write_may_leave_and_a_viewer_token_may_not(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    admin = await join(app, client, tenant, "ada@example.com", Role.ADMIN)
    viewer = await join(app, client, tenant, "vic@example.com", Role.VIEWER)

    refused = await client.delete(f"/api/v1/members/{viewer.member_id}", headers=viewer.headers)
    left = await client.delete(f"/api/v1/members/{admin.member_id}", headers=admin.headers)

    assert refused.status_code == 403
    assert left.status_code == 204
    assert "member.left" in await audit_actions(app, tenant.organization_id)


async def test_an_unknown_role_is_a_validation_error(client: httpx.AsyncClient, tenant: Tenant) -> None:
    owner_id = await owner_member_id(client, tenant)
    response = await client.patch(f"/api/v1/members/{owner_id}", json={"role": "god"}, headers=tenant.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/role"
