"""The whole flow with the real development OpenID provider: invited, signed in, accepted, switched.

Runs on both session stores (database and Redis), so switching the active organisation is proven on each.
"""

# ruff: noqa: F811 - test parameters name the pytest fixtures imported from tests/fixtures/signin.py

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.fixtures.signin import (  # noqa: F401 - fixtures are found by the names a module holds
    PUBLIC_URL,
    Browser,
    browser,
    new_browser,
    oidc_provider,
    session_store_kind,
    signin_app,
    signin_redis_server,
    signin_settings,
)
from tests.fixtures.tenants import Tenant, create_tenant
from tests.members.conftest import emails_to

LINK = re.compile(rf"{re.escape(PUBLIC_URL)}/invitations/accept#token=([\w-]+)")


async def _owner_invites(app: Any, email: str) -> tuple[Tenant, str]:
    """The first-run `default` organisation's owner invites `email` as a member; the link's token."""
    owner = await create_tenant(app, "Default", "default")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as api:
        created = await api.post("/api/v1/invitations", json={"email": email, "role": "member"}, headers=owner.headers)
    assert created.status_code == 201, created.text
    [message] = await emails_to(app, email)
    match = LINK.search(message.text_body)
    assert match is not None
    return owner, match.group(1)


async def _signed_in(person: Browser, login: str) -> dict[str, Any]:
    signed = await person.sign_in(login)
    assert signed.status_code == 303, signed.text
    me = await person.http.get("/api/v1/me")
    assert me.status_code == 200, me.text
    return me.json()  # type: ignore[no-any-return]


async def _accept(person: Browser, me: dict[str, Any], token: str) -> httpx.Response:
    headers = {"X-CSRF-Token": me["csrf_token"], "Origin": PUBLIC_URL}
    return await person.http.post("/api/v1/invitations/accept", json={"token": token}, headers=headers)


async def test_a_verified_invitee_signs_in_accepts_and_works_in_the_default_organisation(
    browser: Browser, signin_app: Any
) -> None:
    owner, token = await _owner_invites(signin_app, "alice@example.com")
    me = await _signed_in(browser, "alice")
    assert me["organization"]["slug"] != "default", "a new user still gets a personal organisation"

    accepted = await _accept(browser, me, token)

    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["organization"]["slug"] == "default"
    switched = await browser.http.post(
        "/api/v1/me/active-organization",
        json={"organization_id": owner.organization_id},
        headers={"X-CSRF-Token": me["csrf_token"], "Origin": PUBLIC_URL},
    )
    assert switched.status_code == 200, switched.text
    assert (switched.json()["organization"]["slug"], switched.json()["role"]) == ("default", "member")
    created = await browser.http.post(
        "/api/v1/customers",
        json={"name": "First customer", "email": "first@example.com"},
        headers={"X-CSRF-Token": me["csrf_token"], "Origin": PUBLIC_URL},
    )
    assert created.status_code == 201, created.text
    # The owner sees the customer the invitee created: the same organisation.
    transport = httpx.ASGITransport(app=signin_app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as api:
        listed = await api.get("/api/v1/customers", headers=owner.headers)
        members = await api.get("/api/v1/members", headers=owner.headers)
    assert [c["name"] for c in listed.json()["data"]] == ["First customer"]
    assert {(m["email"], m["role"]) for m in members.json()["data"]} >= {("alice@example.com", "member")}
    assert (await _accept(browser, me, token)).json()["code"] == "invitation_used"


async def test_an_unverified_email_cannot_accept_and_leaves_the_invitation_open(
    browser: Browser, signin_app: Any
) -> None:
    owner, token = await _owner_invites(signin_app, "alice@example.com")
    me = await _signed_in(browser, "mallory")  # claims alice@example.com, unverified
    assert me["profile"]["email"] is None

    refused = await _accept(browser, me, token)

    assert (refused.status_code, refused.json()["code"]) == (403, "email_not_verified")
    # The real Alice, in another browser, still can.
    alice = new_browser(signin_app)
    try:
        accepted = await _accept(alice, await _signed_in(alice, "alice"), token)
    finally:
        await alice.aclose()
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["organization"]["id"] == owner.organization_id


async def test_another_verified_person_gets_a_mismatch(browser: Browser, signin_app: Any) -> None:
    _, token = await _owner_invites(signin_app, "alice@example.com")
    me = await _signed_in(browser, "bob")

    refused = await _accept(browser, me, token)

    assert (refused.status_code, refused.json()["code"]) == (403, "invitation_email_mismatch")
