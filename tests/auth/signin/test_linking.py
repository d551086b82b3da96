"""Accounts behind sign-ins through the real provider: linking by verified email only, names, first login."""

# ruff: noqa: F811 - test parameters name the pytest fixtures imported from tests/fixtures/signin.py

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shipyard.auth import audit
from shipyard.identity import service as identity_service
from shipyard.models import Membership, Organization, Role, User, UserIdentity
from tests.fixtures.oidc import OidcProvider
from tests.fixtures.signin import (  # noqa: F401 - fixtures are found by the names a module holds
    Browser,
    audit_events,
    browser,
    oidc_provider,
    session_store_kind,
    signin_app,
    signin_redis_server,
    signin_settings,
)


async def _users(app: Any) -> list[User]:
    async with app.state.database.reader() as session:
        return list(await session.scalars(select(User).order_by(User.id)))


async def _identities(app: Any, user_id: str) -> list[UserIdentity]:
    async with app.state.database.reader() as session:
        query = select(UserIdentity).where(UserIdentity.user_id == user_id).order_by(UserIdentity.id)
        return list(await session.scalars(query))


async def _sign_in(browser: Browser, login: str) -> None:
    response = await browser.sign_in(login)
    assert response.status_code == 303, response.text


async def test_a_verified_email_links_a_second_provider_to_the_same_user(browser: Browser, signin_app: Any) -> None:
    await _sign_in(browser, "alice")
    await _sign_in(browser, "alice-github")

    (user,) = await _users(signin_app)
    assert (user.email, user.email_verified, user.name) == ("alice@example.com", True, "Alice Liddell")
    identities = await _identities(signin_app, user.id)
    assert [(i.subject, i.provider) for i in identities] == [("alice", "google"), ("alice-github", "github")]
    (linked,) = await audit_events(signin_app, audit.IDENTITY_LINKED)
    assert (linked.actor_id, linked.details["provider"]) == (user.id, "github")
    assert linked.details["identity_id"] == identities[1].id
    assert linked.details["linked_by"] == "verified_email"
    logins = await audit_events(signin_app, audit.LOGIN_SUCCEEDED)
    assert [(e.actor_id, e.details["provider"]) for e in logins] == [(user.id, "google"), (user.id, "github")]
    assert logins[0].organization_id == logins[1].organization_id == linked.organization_id


async def test_an_unverified_email_never_links(browser: Browser, signin_app: Any) -> None:
    await _sign_in(browser, "alice")
    await _sign_in(browser, "mallory")

    alice, mallory = await _users(signin_app)
    assert (alice.email, alice.name) == ("alice@example.com", "Alice Liddell")
    assert [i.subject for i in await _identities(signin_app, alice.id)] == ["alice"]
    # Mallory gets an account of her own, keyed by (issuer, sub) and marked unverified.
    assert (mallory.email, mallory.email_verified, mallory.name) == (None, False, "Mallory Mallet")
    (identity,) = await _identities(signin_app, mallory.id)
    assert (identity.subject, identity.email, identity.email_verified) == ("mallory", "alice@example.com", False)
    assert await audit_events(signin_app, audit.IDENTITY_LINKED) == []
    first, second = await audit_events(signin_app, audit.LOGIN_SUCCEEDED)
    assert first.organization_id != second.organization_id


async def test_an_unverified_sign_in_cannot_squat_the_address_for_its_owner(browser: Browser, signin_app: Any) -> None:
    await _sign_in(browser, "mallory")
    await _sign_in(browser, "alice")

    mallory, alice = await _users(signin_app)
    assert mallory.email is None
    assert (alice.email, alice.email_verified) == ("alice@example.com", True)
    assert await audit_events(signin_app, audit.IDENTITY_LINKED) == []


async def test_a_name_sent_only_on_the_first_sign_in_is_kept(
    browser: Browser, signin_app: Any, oidc_provider: OidcProvider
) -> None:
    oidc_provider.reset()  # Apple sends the name on the first sign-in since the provider started
    await _sign_in(browser, "apple-user")
    await _sign_in(browser, "apple-user")

    (user,) = await _users(signin_app)
    assert user.name == "Ada Apple"
    first, second = await audit_events(signin_app, audit.LOGIN_SUCCEEDED)
    assert (first.details["provider"], second.details["provider"]) == ("apple", "apple")


async def test_a_first_sign_in_creates_a_personal_organisation_it_owns(browser: Browser, signin_app: Any) -> None:
    await _sign_in(browser, "bob")
    await _sign_in(browser, "bob")

    (user,) = await _users(signin_app)
    async with signin_app.state.database.reader() as session:
        rows = (await session.execute(select(Organization, Membership).join(Membership))).all()
    ((organization, membership),) = rows
    assert (organization.name, organization.slug) == ("Bob Builder", "bob-builder")
    assert (membership.user_id, membership.role) == (user.id, Role.OWNER)
    assert {e.organization_id for e in await audit_events(signin_app, audit.LOGIN_SUCCEEDED)} == {organization.id}
    (created,) = await audit_events(signin_app, "organization.created")
    assert created.target_id == organization.id


async def test_an_operator_created_owner_signs_in_to_their_organisation(browser: Browser, signin_app: Any) -> None:
    async with signin_app.state.database.writer() as session:
        owner = await identity_service.get_or_create_user(session, "Alice@Example.com")
        acme = await identity_service.create_organization(session, "Acme", slug="acme", owner=owner)
        await session.commit()
    assert owner.email_verified is False  # an operator typed it

    await _sign_in(browser, "alice")

    (user,) = await _users(signin_app)
    assert (user.id, user.email_verified, user.name) == (owner.id, True, "Alice Liddell")
    (login,) = await audit_events(signin_app, audit.LOGIN_SUCCEEDED)
    assert login.organization_id == acme.id
    assert (await browser.http.get("/api/v1/customers")).status_code == 200
