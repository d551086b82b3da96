"""Accounts behind a sign-in: find the identity, link it by verified email, or create the user. Never commits.

The rules (docs/security/sign-in.md):
- an identity is `(issuer, subject)`; the email is never the key;
- a new identity links to an existing user only when the provider says the email is verified, and the user's
  own email is that address. A user's own email is only ever set from a verified one (or by an operator), so
  an unverified sign-in can neither link nor squat an address someone else will verify later;
- a name is filled in once and never overwritten, by an empty value (Apple sends it only once) or by another
  provider's spelling (linked identities would otherwise rename the person at every sign-in);
- upstream access and refresh tokens are never stored.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.auth.audit import IDENTITY_LINKED, record_auth_event
from shipyard.auth.oidc.schemas import VerifiedLogin
from shipyard.auth.signin import repository
from shipyard.auth.signin.schemas import SignInProfile
from shipyard.identity import service as identity_service
from shipyard.models import Organization, User, UserIdentity
from shipyard.models.base import utcnow

# The claim Authentik's scope mapping (deploy/authentik/) fills with the upstream source's slug.
SOURCE_CLAIM: Final = "shipyard_source"
PROVIDER_SLUG: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_EMAIL: Final = re.compile(r"[^@\s]{1,64}@[^@\s]{1,255}")
_MAX_EMAIL: Final = 320
_MAX_NAME: Final = 200
_SLUG_BASE_MAX: Final = 55  # room for "-" and 8 random hex digits within 64


@dataclass(frozen=True, slots=True)
class SignInResult:
    """The person who signed in, the organisation the session acts in, and what changed."""

    user: User
    organization: Organization
    identity: UserIdentity
    linked: bool  # a new identity was attached to an existing user (by verified email)
    created: bool  # a new user (and personal organisation) was created


def is_verified(value: object) -> bool:
    """Whether an `email_verified` claim says yes: JSON true, or the string "true" some IdPs send."""
    return value is True or value == "true"


def normalise_email(value: object) -> str | None:
    """A usable email address, lower-cased (as every IdP compares them), or None."""
    if not isinstance(value, str):
        return None
    email = value.strip().lower()
    return email if len(email) <= _MAX_EMAIL and _EMAIL.fullmatch(email) else None


def _text(value: object) -> str:
    return " ".join(value.split())[:_MAX_NAME] if isinstance(value, str) else ""


def _display_name(claims: dict[str, Any]) -> str:
    name = _text(claims.get("name"))
    if not name:
        name = " ".join(part for part in (_text(claims.get("given_name")), _text(claims.get("family_name"))) if part)
    return name[:_MAX_NAME]


def profile_from_login(login: VerifiedLogin, *, fallback_provider: str | None = None) -> SignInProfile:
    """The profile of a verified sign-in: userinfo where it says something, else the ID token."""
    userinfo, id_claims = login.userinfo, login.id_token_claims
    # Email and its verification travel together, from the same answer.
    email_source = userinfo if userinfo.get("email") else id_claims
    email = normalise_email(email_source.get("email"))
    source = userinfo.get(SOURCE_CLAIM) or id_claims.get(SOURCE_CLAIM)
    provider = source if isinstance(source, str) and PROVIDER_SLUG.fullmatch(source) else fallback_provider
    return SignInProfile(
        issuer=login.issuer,
        subject=login.subject,
        provider=provider,
        email=email,
        email_verified=email is not None and is_verified(email_source.get("email_verified")),
        name=_display_name(userinfo) or _display_name(id_claims),
    )


async def sign_in(session: AsyncSession, profile: SignInProfile, *, now: datetime | None = None) -> SignInResult:
    """Find, link or create the user behind `profile`; audit a link. The caller creates the session."""
    now = now or utcnow()
    linked = created = False
    identity = await repository.get_identity(session, profile.issuer, profile.subject)
    user: User | None = None
    if identity is not None:
        user = await repository.get_user(session, identity.user_id)
        if user is None:  # pragma: no cover - the foreign key deletes identities with their user
            msg = f"identity {identity.id} has no user"
            raise RuntimeError(msg)
    else:
        if profile.email_verified and profile.email:
            user = await repository.find_user_by_email(session, profile.email)
            linked = user is not None
        if user is None:
            # An unverified address stays on the identity: on the user it would block (or later link to)
            # the person who really owns it.
            verified_email = profile.email if profile.email_verified else None
            user = User(email=verified_email, email_verified=verified_email is not None, name=profile.name)
            session.add(user)
            await session.flush()
            created = True
        identity = UserIdentity(user_id=user.id, issuer=profile.issuer, subject=profile.subject)
        session.add(identity)
    await _refresh(session, user, identity, profile, now)
    organization = await repository.first_organization(session, user.id)
    if organization is None:
        organization = await _personal_organization(session, user, profile)
    if linked:
        record_auth_event(
            session,
            IDENTITY_LINKED,
            user_id=user.id,
            organization_id=organization.id,
            provider=profile.provider,
            details={"identity_id": identity.id, "issuer": profile.issuer, "linked_by": "verified_email"},
        )
    return SignInResult(user, organization, identity, linked=linked, created=created)


async def _refresh(
    session: AsyncSession, user: User, identity: UserIdentity, profile: SignInProfile, now: datetime
) -> None:
    """Record what the provider said this time, without ever losing a name or trusting an unverified email."""
    identity.email = profile.email
    identity.email_verified = profile.email_verified
    identity.provider = profile.provider or identity.provider
    identity.last_login_at = now
    if not user.name and profile.name:
        user.name = profile.name
    if profile.email_verified and profile.email:
        if user.email is None and await repository.find_user_by_email(session, profile.email) is None:
            user.email = profile.email
        if user.email is not None and user.email.lower() == profile.email:
            # An operator-entered address (`shipyard orgs create --owner-email`) is now proven.
            user.email_verified = True
    await session.flush()


async def _personal_organization(session: AsyncSession, user: User, profile: SignInProfile) -> Organization:
    """A first sign-in's own organisation, with the user as its owner."""
    email_name = profile.email.split("@", 1)[0] if profile.email_verified and profile.email else ""
    name = user.name or email_name or "Personal"
    base = identity_service.slugify(name)[:_SLUG_BASE_MAX].strip("-") or "org"
    slug = base
    for _ in range(5):
        if not await repository.slug_taken(session, slug):
            break
        slug = f"{base}-{secrets.token_hex(4)}"
    return await identity_service.create_organization(session, name, slug=slug, owner=user)
