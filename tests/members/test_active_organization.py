"""Switching the browser session's organisation, and leaving one from the browser."""

from __future__ import annotations

from typing import Any

import httpx

from shipyard.identity import service as identity_service
from shipyard.models import Organization, Role, User
from tests.auth.conftest import Browser
from tests.fixtures.tenants import Tenant
from tests.members.conftest import audit_actions, join, signed_in, unsafe


async def _two_organisations(
    app: Any, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, browsers: list[Browser]
) -> Browser:
    """Globex's owner, also a viewer of Acme, signed in to Globex."""
    async with app.state.database.writer() as session:
        organization = await session.get(Organization, tenant.organization_id)
        user = await session.get(User, other_tenant.user_id)
        assert organization is not None
        assert user is not None
        await identity_service.add_member(session, organization, user, Role.VIEWER)
        await session.commit()
    return await signed_in(app, other_tenant, browsers)


async def test_a_person_in_two_organisations_switches_the_sessions_active_one(
    app: Any, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, browsers: list[Browser]
) -> None:
    browser = await _two_organisations(app, client, tenant, other_tenant, browsers)
    before = (await browser.http.get("/api/v1/me")).json()
    assert before["organization"]["slug"] == "globex"
    assert {(o["slug"], o["role"]) for o in before["organizations"]} == {("acme", "viewer"), ("globex", "owner")}

    switched = await browser.http.post(
        "/api/v1/me/active-organization", json={"organization_id": tenant.organization_id}, headers=unsafe(browser)
    )

    assert switched.status_code == 200, switched.text
    body = switched.json()
    assert (body["organization"]["slug"], body["role"], body["session_id"]) == ("acme", "viewer", before["session_id"])
    assert body["csrf_token"] == before["csrf_token"]
    # Every call now acts in Acme, as a viewer.
    customers = await browser.http.post(
        "/api/v1/customers", json={"name": "X", "email": "x@example.com"}, headers=unsafe(browser)
    )
    assert customers.status_code == 403
    assert (await browser.http.get("/api/v1/me")).json()["organization"]["slug"] == "acme"
    assert "session.organization_switched" in await audit_actions(app, tenant.organization_id)


async def test_switching_to_a_stranger_organisation_or_with_a_token_is_refused(
    app: Any, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, browsers: list[Browser]
) -> None:
    browser = await signed_in(app, other_tenant, browsers)

    stranger = await browser.http.post(
        "/api/v1/me/active-organization", json={"organization_id": tenant.organization_id}, headers=unsafe(browser)
    )
    missing = await browser.http.post(
        "/api/v1/me/active-organization", json={"organization_id": f"org_{'0' * 26}"}, headers=unsafe(browser)
    )
    token = await client.post(
        "/api/v1/me/active-organization", json={"organization_id": tenant.organization_id}, headers=tenant.headers
    )

    assert stranger.status_code == 404
    assert stranger.json()["detail"].replace(tenant.organization_id, "x") == missing.json()["detail"].replace(
        f"org_{'0' * 26}", "x"
    )
    assert (token.status_code, token.json()["code"]) == (403, "browser_session_required")
    assert (await browser.http.get("/api/v1/me")).json()["organization"]["slug"] == "globex"


async def test_leaving_from_the_browser_moves_the_session_to_another_organisation(
    app: Any, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, browsers: list[Browser]
) -> None:
    browser = await _two_organisations(app, client, tenant, other_tenant, browsers)
    await browser.http.post(
        "/api/v1/me/active-organization", json={"organization_id": tenant.organization_id}, headers=unsafe(browser)
    )
    members = (await browser.http.get("/api/v1/members")).json()["data"]
    mine = next(m["id"] for m in members if m["user_id"] == other_tenant.user_id)

    left = await browser.http.delete(f"/api/v1/members/{mine}", headers=unsafe(browser))

    assert left.status_code == 204, left.text
    me = await browser.http.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["organization"]["slug"] == "globex"
    assert [o["slug"] for o in me.json()["organizations"]] == ["globex"]
    assert "member.left" in await audit_actions(app, tenant.organization_id)


async def test_a_viewer_leaving_from_the_browser_needs_no_members_write(
    app: Any, client: httpx.AsyncClient, tenant: Tenant, browsers: list[Browser]
) -> None:
    viewer = await join(app, client, tenant, "vic@example.com", Role.VIEWER)
    browser = await signed_in(app, Tenant(tenant.organization_id, tenant.slug, viewer.user_id, "", ""), browsers)
    owner = next(m["id"] for m in (await browser.http.get("/api/v1/members")).json()["data"] if m["role"] == "owner")

    not_yours = await browser.http.delete(f"/api/v1/members/{owner}", headers=unsafe(browser))
    left = await browser.http.delete(f"/api/v1/members/{viewer.member_id}", headers=unsafe(browser))

    assert not_yours.status_code == 403
    assert left.status_code == 204
    # No other organisation to move to: the session ends.
    after = await browser.http.get("/api/v1/me")
    assert (after.status_code, after.json()["code"]) == (401, "session_expired")
