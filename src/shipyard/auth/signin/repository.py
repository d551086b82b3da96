"""Every query for sign-in: identities, the users they belong to and a user's organisations."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.models import Membership, Organization, User, UserIdentity


async def get_identity(session: AsyncSession, issuer: str, subject: str) -> UserIdentity | None:
    """The identity `(issuer, subject)`, if someone signed in with it before."""
    return await session.scalar(
        select(UserIdentity).where(UserIdentity.issuer == issuer, UserIdentity.subject == subject)
    )


async def list_identities(session: AsyncSession, user_id: str) -> list[UserIdentity]:
    """A user's identities, oldest first."""
    return list(
        await session.scalars(select(UserIdentity).where(UserIdentity.user_id == user_id).order_by(UserIdentity.id))
    )


async def get_user(session: AsyncSession, user_id: str) -> User | None:
    """The user with this ID."""
    return await session.get(User, user_id)


async def find_user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user whose own email is `email`, compared case-insensitively."""
    return await session.scalar(select(User).where(func.lower(User.email) == email.lower()))


async def first_organization(session: AsyncSession, user_id: str) -> Organization | None:
    """The organisation the user joined first (a sign-in acts in it)."""
    return await session.scalar(
        select(Organization)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user_id)
        .order_by(Membership.created_at, Membership.id)
        .limit(1)
    )


async def slug_taken(session: AsyncSession, slug: str) -> bool:
    """Whether an organisation already uses `slug`."""
    return await session.scalar(select(Organization.id).where(Organization.slug == slug)) is not None
