"""Business rules for organisations, users and API tokens. Services never commit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.identity import audit_trail as audit
from shipyard.identity import repository, token_format
from shipyard.identity.principal import Principal
from shipyard.identity.scopes import ROLE_SCOPES, unknown_scopes
from shipyard.kit.problems import ProblemError
from shipyard.models import ApiToken, Membership, Organization, Role, User
from shipyard.models.base import utcnow

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token row and its secret, which exists only here and is shown once."""

    token: ApiToken
    secret: str


def slugify(name: str) -> str:
    """A URL-safe slug derived from a name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].strip("-")
    return slug or "org"


async def create_organization(
    session: AsyncSession, name: str, *, slug: str | None = None, owner: User | None = None
) -> Organization:
    """Create an organisation (with `owner` as its owner, if given)."""
    slug = slug or slugify(name)
    if not _SLUG.fullmatch(slug):
        raise ProblemError(422, "invalid_slug", "A slug is 1-64 lower-case letters, digits and inner hyphens.")
    if await repository.get_organization_by_slug(session, slug) is not None:
        raise ProblemError(409, "slug_taken", f"An organisation with slug '{slug}' already exists.")
    organization = Organization(name=name, slug=slug, invoice_seq=0)
    session.add(organization)
    await session.flush()
    if owner is not None:
        session.add(Membership(organization_id=organization.id, user_id=owner.id, role=Role.OWNER))
        await session.flush()
    audit.record(
        session,
        None,
        "organization.created",
        target_type="organization",
        target_id=organization.id,
        organization_id=organization.id,
    )
    return organization


async def get_or_create_user(session: AsyncSession, email: str, name: str = "") -> User:
    """The user with `email`, created (unverified) if new."""
    user = await repository.get_user_by_email(session, email)
    if user is None:
        user = User(email=email, name=name, email_verified=False)
        session.add(user)
        await session.flush()
    return user


async def add_member(session: AsyncSession, organization: Organization, user: User, role: Role) -> Membership:
    """Give `user` a role in `organization`."""
    membership = Membership(organization_id=organization.id, user_id=user.id, role=role)
    session.add(membership)
    await session.flush()
    return membership


def _validate_scopes(requested: list[str], allowed: frozenset[str]) -> None:
    if unknown := unknown_scopes(requested):
        raise ProblemError(422, "unknown_scope", f"Unknown scope(s): {', '.join(unknown)}.", unknown_scopes=unknown)
    if excess := sorted(set(requested) - allowed):
        raise ProblemError(
            403,
            "scope_not_grantable",
            f"You cannot grant scope(s) you do not hold: {', '.join(excess)}.",
            missing_scopes=excess,
        )


async def issue_token(
    session: AsyncSession,
    organization_id: str,
    creator_id: str,
    *,
    name: str,
    scopes: list[str],
    expires_in: timedelta | None,
    principal: Principal | None,
) -> IssuedToken:
    """Create a token for `creator_id`, never granting more than the creator's role (or the caller) holds."""
    role = await repository.get_role(session, organization_id, creator_id)
    if role is None:
        raise ProblemError(422, "not_a_member", "The token's creator is not a member of the organisation.")
    allowed = ROLE_SCOPES[role] & principal.scopes if principal else ROLE_SCOPES[role]
    _validate_scopes(scopes, allowed)
    secret = token_format.generate()
    expires_at: datetime | None = utcnow() + expires_in if expires_in is not None else None
    token = ApiToken(
        organization_id=organization_id,
        created_by_user_id=creator_id,
        name=name,
        token_hash=token_format.hash_token(secret),
        display_prefix=token_format.display_prefix(secret),
        scopes=sorted(set(scopes)),
        expires_at=expires_at,
    )
    session.add(token)
    await session.flush()
    audit.record(
        session,
        principal,
        "token.created",
        target_type="api_token",
        target_id=token.id,
        details={"name": name, "scopes": token.scopes},
        organization_id=organization_id,
    )
    return IssuedToken(token, secret)


async def revoke_token(session: AsyncSession, principal: Principal | None, token: ApiToken) -> ApiToken:
    """Revoke a token (idempotent: revoking twice keeps the first time)."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(
            session,
            principal,
            "token.revoked",
            target_type="api_token",
            target_id=token.id,
            organization_id=token.organization_id,
        )
    return token


async def get_organization(session: AsyncSession, principal: Principal) -> Organization | None:
    """The principal's own organisation."""
    return await repository.get_organization(session, principal.organization_id)


async def get_token(session: AsyncSession, principal: Principal, token_id: str) -> ApiToken | None:
    """The principal's organisation's token with this ID."""
    return await repository.get_token(session, principal.organization_id, token_id)


async def list_tokens(
    session: AsyncSession, principal: Principal, *, limit: int, after_id: str | None
) -> list[ApiToken]:
    """A page of the principal's organisation's tokens."""
    return await repository.list_tokens(session, principal.organization_id, limit=limit, after_id=after_id)


@dataclass(frozen=True, slots=True)
class Bootstrap:
    """What the first run of the embedded default creates."""

    organization: Organization
    user: User
    issued: IssuedToken


async def bootstrap(session: AsyncSession, *, admin_email: str = "admin@localhost") -> Bootstrap | None:
    """On an empty database: a default organisation, its owner and an all-scopes token. None otherwise."""
    if await repository.count_organizations(session) > 0:
        return None
    user = await get_or_create_user(session, admin_email, "Administrator")
    organization = await create_organization(session, "Default", slug="default", owner=user)
    await session.flush()
    issued = await issue_token(
        session,
        organization.id,
        user.id,
        name="bootstrap admin",
        scopes=sorted(ROLE_SCOPES[Role.OWNER]),
        expires_in=None,
        principal=None,
    )
    return Bootstrap(organization, user, issued)
