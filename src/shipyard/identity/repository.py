"""Every query for organisations, users, memberships and API tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.models import ApiToken, Membership, Organization, Role, User


async def get_organization(session: AsyncSession, organization_id: str) -> Organization | None:
    """The organisation with this ID."""
    return await session.get(Organization, organization_id)


async def get_organization_by_slug(session: AsyncSession, slug: str) -> Organization | None:
    """The organisation with this slug."""
    return await session.scalar(select(Organization).where(Organization.slug == slug))


async def list_organizations(session: AsyncSession) -> list[Organization]:
    """Every organisation, oldest first (an operator's view)."""
    return list(await session.scalars(select(Organization).order_by(Organization.id)))


async def count_organizations(session: AsyncSession) -> int:
    """How many organisations exist."""
    return int(await session.scalar(select(func.count()).select_from(Organization)) or 0)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    """The user with this email."""
    return await session.scalar(select(User).where(User.email == email))


async def get_role(session: AsyncSession, organization_id: str, user_id: str) -> Role | None:
    """The user's role in the organisation, if they are a member."""
    role = await session.scalar(
        select(Membership.role).where(Membership.organization_id == organization_id, Membership.user_id == user_id),
    )
    return Role(role) if role else None


async def first_owner(session: AsyncSession, organization_id: str) -> User | None:
    """The organisation's longest-standing owner."""
    return await session.scalar(
        select(User)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == organization_id, Membership.role == Role.OWNER)
        .order_by(Membership.id)
        .limit(1),
    )


async def find_token_for_auth(session: AsyncSession, token_hash: str) -> tuple[ApiToken, Role | None] | None:
    """The token with this hash and its creator's current role in the token's organisation."""
    row = (
        await session.execute(
            select(ApiToken, Membership.role)
            .outerjoin(
                Membership,
                (Membership.organization_id == ApiToken.organization_id)
                & (Membership.user_id == ApiToken.created_by_user_id),
            )
            .where(ApiToken.token_hash == token_hash),
        )
    ).first()
    if row is None:
        return None
    token, role = row
    return token, Role(role) if role else None


async def touch_token(session: AsyncSession, token_id: str, used_at: datetime, ip: str | None) -> None:
    """Record when and from where a token was last used; a use with no IP (stdio MCP) keeps the last one."""
    # Keep updated_at: a token being used is not the token being changed.
    values: dict[str, object] = {"last_used_at": used_at, "updated_at": ApiToken.updated_at}
    if ip is not None:
        values["last_used_ip"] = ip
    await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(values))


async def list_tokens(
    session: AsyncSession, organization_id: str, *, limit: int, after_id: str | None
) -> list[ApiToken]:
    """A page of the organisation's tokens, newest first (fetches `limit + 1`)."""
    query = select(ApiToken).where(ApiToken.organization_id == organization_id)
    if after_id:
        query = query.where(ApiToken.id < after_id)
    return list(await session.scalars(query.order_by(ApiToken.id.desc()).limit(limit + 1)))


async def get_token(session: AsyncSession, organization_id: str, token_id: str) -> ApiToken | None:
    """The organisation's token with this ID."""
    return await session.scalar(
        select(ApiToken).where(ApiToken.organization_id == organization_id, ApiToken.id == token_id),
    )


async def list_tokens_by_org(session: AsyncSession, organization_id: str) -> list[ApiToken]:
    """All of an organisation's tokens (for the CLI)."""
    return list(
        await session.scalars(
            select(ApiToken).where(ApiToken.organization_id == organization_id).order_by(ApiToken.id),
        ),
    )
