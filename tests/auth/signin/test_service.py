"""The account rules of sign-in (auth/signin/service.py) on a real database, without a provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.auth import audit
from shipyard.auth.oidc.schemas import VerifiedLogin
from shipyard.auth.signin import service
from shipyard.auth.signin.schemas import SignInProfile
from shipyard.identity import service as identity_service
from shipyard.models import AuditEvent, Membership, User, UserIdentity

ISSUER = "https://idp.example"


def _login(id_token: dict[str, Any], userinfo: dict[str, Any] | None = None) -> VerifiedLogin:
    return VerifiedLogin(
        issuer=ISSUER,
        subject="sub-1",
        id_token="header.claims.signature",
        id_token_claims=id_token,
        userinfo=userinfo or {},
    )


def _profile(subject: str, **fields: Any) -> SignInProfile:
    return SignInProfile(issuer=ISSUER, subject=subject, **fields)


@pytest.fixture
async def session(app: Any) -> AsyncIterator[AsyncSession]:
    async with app.state.database.writer() as db:
        yield db


@pytest.mark.parametrize(
    ("claim", "verified"),
    [(True, True), ("true", True), (False, False), ("false", False), ("True", False), (1, False), (None, False)],
)
def test_only_true_or_the_string_true_counts_as_verified(claim: object, verified: bool) -> None:
    profile = service.profile_from_login(_login({"sub": "sub-1", "email": "a@example.com", "email_verified": claim}))
    assert profile.email_verified is verified


def test_userinfo_wins_and_the_email_keeps_its_own_verification() -> None:
    profile = service.profile_from_login(
        _login(
            {"email": "old@example.com", "email_verified": True, "name": "Id Token Name", "shipyard_source": "google"},
            {"sub": "sub-1", "email": " New@Example.COM ", "given_name": "Info", "family_name": "Name"},
        )
    )
    assert (profile.email, profile.email_verified) == ("new@example.com", False)
    assert profile.name == "Info Name"
    assert profile.provider == "google"


@pytest.mark.parametrize(
    ("source", "fallback", "expected"),
    [("github", "google", "github"), (None, "google", "google"), ("Not A Slug!", None, None), (7, "apple", "apple")],
)
def test_the_provider_is_the_idps_source_claim_else_the_button(
    source: object, fallback: str | None, expected: str | None
) -> None:
    profile = service.profile_from_login(_login({"shipyard_source": source}), fallback_provider=fallback)
    assert profile.provider == expected


@pytest.mark.parametrize("email", ["not-an-email", "a@b@c", "", "x" * 320 + "@example.com", 42])
def test_unusable_emails_are_dropped(email: object) -> None:
    assert service.profile_from_login(_login({"email": email, "email_verified": True})).email is None


async def test_a_verified_email_links_case_insensitively(session: AsyncSession) -> None:
    first = await service.sign_in(session, _profile("a", email="alice@example.com", email_verified=True))
    first.user.email = "Alice@Example.com"
    await session.flush()

    second = await service.sign_in(session, _profile("b", email="alice@example.com", email_verified=True))

    assert (second.user.id, second.linked, second.created) == (first.user.id, True, False)
    assert second.organization.id == first.organization.id
    await session.flush()
    events = list(await session.scalars(select(AuditEvent).where(AuditEvent.action == audit.IDENTITY_LINKED)))
    assert [event.target_id for event in events] == [first.user.id]


async def test_a_returning_identity_updates_what_the_provider_says_but_not_the_users_email(
    session: AsyncSession,
) -> None:
    first = await service.sign_in(session, _profile("a", email="a@example.com", email_verified=True, name="A"))
    again = await service.sign_in(
        session, _profile("a", email="b@example.com", email_verified=False, provider="github")
    )

    assert (again.user.id, again.linked, again.created) == (first.user.id, False, False)
    assert (again.user.email, again.user.email_verified, again.user.name) == ("a@example.com", True, "A")
    identity = again.identity
    assert (identity.email, identity.email_verified, identity.provider) == ("b@example.com", False, "github")
    assert identity.last_login_at is not None
    assert len(list(await session.scalars(select(UserIdentity)))) == 1


async def test_a_later_name_never_replaces_the_first(session: AsyncSession) -> None:
    await service.sign_in(session, _profile("a", name=""))
    named = await service.sign_in(session, _profile("a", name="Ada Apple"))
    renamed = await service.sign_in(session, _profile("a", name="Someone Else"))
    emptied = await service.sign_in(session, _profile("a", name=""))

    assert named.user.name == renamed.user.name == emptied.user.name == "Ada Apple"


async def test_a_taken_slug_gets_a_random_suffix(session: AsyncSession) -> None:
    await identity_service.create_organization(session, "Ada Apple", slug="ada-apple")

    result = await service.sign_in(session, _profile("a", name="Ada Apple"))

    assert result.organization.slug.startswith("ada-apple-")
    assert len(result.organization.slug) == len("ada-apple-") + 8


async def test_a_nameless_unverified_person_gets_a_generic_organisation(session: AsyncSession) -> None:
    result = await service.sign_in(session, _profile("a", email="x@example.com", email_verified=False))

    assert (result.organization.name, result.organization.slug) == ("Personal", "personal")
    assert (result.user.email, result.user.email_verified) == (None, False)
    assert result.created


async def test_a_user_without_any_organisation_gets_one_at_sign_in(session: AsyncSession) -> None:
    first = await service.sign_in(session, _profile("a", name="Solo"))
    for membership in await session.scalars(select(Membership)):
        await session.delete(membership)
    await session.flush()

    again = await service.sign_in(session, _profile("a", name="Solo"))

    assert again.organization.id != first.organization.id
    role = await session.scalar(select(Membership.role).where(Membership.user_id == again.user.id))
    assert role == "owner"


async def test_a_verified_email_taken_by_another_user_is_not_copied(session: AsyncSession) -> None:
    unverified = await service.sign_in(session, _profile("a", email="c@example.com", email_verified=False))
    session.add(User(email="c@example.com", email_verified=True, name="Owner"))
    await session.flush()

    # The identity now says the address is verified: it belongs to another user, so it stays off this one.
    again = await service.sign_in(session, _profile("a", email="c@example.com", email_verified=True))

    assert again.user.id == unverified.user.id
    assert again.user.email is None
