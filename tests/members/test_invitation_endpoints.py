"""Invitations through the API: create, list, resend, revoke, and accepting them with a browser session."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from shipyard.models import EmailMessage, Invitation, Role
from shipyard.models.base import utcnow
from tests.auth.conftest import Browser
from tests.fixtures.tenants import Tenant
from tests.members.conftest import audit_actions, emails_to, join, person, signed_in, unsafe

LINK = re.compile(r"https://testserver/invitations/accept#token=([A-Za-z0-9_-]+)")


async def invite(client: httpx.AsyncClient, tenant: Tenant, email: str, role: str = "member") -> dict[str, Any]:
    response = await client.post("/api/v1/invitations", json={"email": email, "role": role}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def link_token(app: Any, email: str) -> str:
    """The token in the newest invitation email to `email`."""
    messages = await emails_to(app, email)
    match = LINK.search(messages[-1].text_body)
    assert match is not None, messages[-1].text_body
    assert match.group(0) in (messages[-1].html_body or "")
    return match.group(1)


async def accept(browser: Browser, token: str) -> httpx.Response:
    return await browser.http.post("/api/v1/invitations/accept", json={"token": token}, headers=unsafe(browser))


async def test_inviting_queues_an_email_with_a_one_time_link_and_stores_only_its_hash(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await invite(client, tenant, "Grace@Example.com", "admin")

    assert set(created) == {"id", "email", "role", "status", "expires_at", "created_at"}
    assert (created["email"], created["role"], created["status"]) == ("grace@example.com", "admin", "pending")
    token = await link_token(app, "grace@example.com")
    async with app.state.database.reader() as session:
        row = await session.scalar(select(Invitation).where(Invitation.id == created["id"]))
    assert row is not None
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(vars(row))
    assert row.expires_at - row.created_at == pytest.approx(timedelta(days=7), abs=timedelta(seconds=5))
    listed = await client.get("/api/v1/invitations", headers=tenant.headers)
    assert listed.json()["data"] == [created]
    assert "invitation.created" in await audit_actions(app, tenant.organization_id)


async def test_the_answer_is_the_same_whether_or_not_the_address_has_an_account(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await person(app, "known@example.com")

    known = await invite(client, tenant, "known@example.com")
    unknown = await invite(client, tenant, "unknown@example.com")

    def shape(body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k not in {"id", "email", "expires_at", "created_at"}}

    assert shape(known) == shape(unknown)
    assert len(await emails_to(app, "known@example.com")) == len(await emails_to(app, "unknown@example.com")) == 1


async def test_a_member_or_an_open_invitation_is_not_invited_twice(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await join(app, client, tenant, "ada@example.com", Role.ADMIN)
    await invite(client, tenant, "grace@example.com")

    member = await client.post("/api/v1/invitations", json={"email": "ada@example.com", "role": "viewer"}, headers=tenant.headers)
    again = await client.post("/api/v1/invitations", json={"email": "grace@example.com", "role": "viewer"}, headers=tenant.headers)

    assert (member.status_code, member.json()["code"]) == (409, "already_a_member")
    assert (again.status_code, again.json()["code"]) == (409, "invitation_exists")


async def test_an_admin_cannot_invite_an_owner_nor_a_viewer_anyone(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    admin = await join(app, client, tenant, "ada@example.com", Role.ADMIN)
    viewer = await join(app, client, tenant, "vic@example.com", Role.VIEWER)
    body = {"email": "grace@example.com", "role": "owner"}

    by_admin = await client.post("/api/v1/invitations", json=body, headers=admin.headers)
    by_viewer = await client.post("/api/v1/invitations", json={**body, "role": "viewer"}, headers=viewer.headers)

    assert (by_admin.status_code, by_admin.json()["code"]) == (403, "owner_required")
    assert (by_viewer.status_code, by_viewer.json()["code"]) == (403, "insufficient_scope")


async def test_accepting_joins_the_organisation_once(
    app: Any, client: httpx.AsyncClient, tenant: Tenant, browsers: list[Browser]
) -> None:
    grace = await person(app, "grace@example.com")
    await invite(client, tenant, "grace@example.com", "viewer")
    token = await link_token(app, "grace@example.com")
    browser = await signed_in(app, grace, browsers)

    accepted = await accept(browser, token)
    twice = await accept(browser, token)

    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["organization"] == {"id": tenant.organization_id, "slug": "acme", "name": "Acme", "role": "viewer"}
    assert (body["member"]["user_id"], body["member"]["role"]) == (grace.user_id, "viewer")
    assert (twice.status_code, twice.json()["code"]) == (409, "invitation_used")
    members = (await client.get("/api/v1/members", headers=tenant.headers)).json()["data"]
    assert grace.user_id in {m["user_id"] for m in members}
    assert (await client.get("/api/v1/invitations", headers=tenant.headers)).json()["data"] == []
    assert {"invitation.accepted", "member.added"} <= set(await audit_actions(app, tenant.organization_id))
    me = (await browser.http.get("/api/v1/me")).json()
    assert {org["slug"] for org in me["organizations"]} == {"acme", "grace-personal"}
    assert me["organization"]["id"] == grace.organization_id, "accepting does not switch the session"


async def test_accepting_needs_the_invited_verified_email_and_a_browser(
    app: Any, client: httpx.AsyncClient, tenant: Tenant, browsers: list[Browser]
) -> None:
    await invite(client, tenant, "grace@example.com")
    token = await link_token(app, "grace@example.com")
    someone_else = await signed_in(app, await person(app, "eve@example.com"), browsers)
    unverified = await signed_in(app, await person(app, "grace@example.com", verified=False), browsers)

    mismatch = await accept(someone_else, token)
    not_verified = await accept(unverified, token)
    with_a_token = await client.post("/api/v1/invitations/accept", json={"token": token}, headers=tenant.headers)
    unknown = await accept(someone_else, "not-a-token")

    assert (mismatch.status_code, mismatch.json()["code"]) == (403, "invitation_email_mismatch")
    assert (not_verified.status_code, not_verified.json()["code"]) == (403, "email_not_verified")
    assert (with_a_token.status_code, with_a_token.json()["code"]) == (403, "browser_session_required")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "invitation_not_found")
    # None of that used the invitation up.
    assert (await client.get("/api/v1/invitations", headers=tenant.headers)).json()["data"][0]["status"] == "pending"


async def test_revoked_expired_and_resent_links_are_refused_clearly(
    app: Any, client: httpx.AsyncClient, tenant: Tenant, browsers: list[Browser]
) -> None:
    grace = await person(app, "grace@example.com")
    browser = await signed_in(app, grace, browsers)
    created = await invite(client, tenant, "grace@example.com")
    old_token = await link_token(app, "grace@example.com")

    resent = await client.post(f"/api/v1/invitations/{created['id']}/resend", headers=tenant.headers)
    assert resent.status_code == 200, resent.text
    assert resent.json()["expires_at"] >= created["expires_at"]
    new_token = await link_token(app, "grace@example.com")
    assert new_token != old_token
    assert (await accept(browser, old_token)).json()["code"] == "invitation_not_found"

    async with app.state.database.writer() as session:
        await session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    expired = await accept(browser, new_token)
    assert (expired.status_code, expired.json()["code"]) == (410, "invitation_expired")
    assert (await client.get("/api/v1/invitations", headers=tenant.headers)).json()["data"][0]["status"] == "expired"

    revoked = await client.delete(f"/api/v1/invitations/{created['id']}", headers=tenant.headers)
    again = await client.delete(f"/api/v1/invitations/{created['id']}", headers=tenant.headers)
    assert revoked.json()["status"] == again.json()["status"] == "revoked"
    refused = await accept(browser, new_token)
    assert (refused.status_code, refused.json()["code"]) == (410, "invitation_revoked")
    cannot_resend = await client.post(f"/api/v1/invitations/{created['id']}/resend", headers=tenant.headers)
    assert (cannot_resend.status_code, cannot_resend.json()["code"]) == (409, "invalid_state_transition")
    actions = await audit_actions(app, tenant.organization_id)
    assert actions.count("invitation.revoked") == 1
    assert "invitation.resent" in actions


async def test_the_invitation_ttl_is_a_setting(app: Any, client: httpx.AsyncClient, tenant: Tenant) -> None:
    app.state.settings = app.state.settings.model_copy(update={"invitation_ttl_days": 2})
    created = await invite(client, tenant, "grace@example.com")
    async with app.state.database.reader() as session:
        row = await session.scalar(select(Invitation).where(Invitation.id == created["id"]))
    assert row is not None
    assert row.expires_at - row.created_at == pytest.approx(timedelta(days=2), abs=timedelta(seconds=5))


async def test_the_email_row_is_for_the_invited_address_only(app: Any, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await invite(client, tenant, "grace@example.com")
    async with app.state.database.reader() as session:
        rows = list(await session.scalars(select(EmailMessage)))
    assert [(row.kind, row.to_address, row.organization_id) for row in rows] == [
        ("invitation", "grace@example.com", tenant.organization_id)
    ]
    assert "Acme" in rows[0].subject
