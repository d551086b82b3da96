"""Every query for members and invitations; each one is scoped to an organisation."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.models import ApiToken, Invitation, InvitationStatus, Membership, Organization, Role, User

MemberRow = tuple[Membership, User]


def _members(organization_id: str) -> Select[tuple[Membership, User]]:
    return (
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == organization_id)
    )


async def lock_organization(session: AsyncSession, organization_id: str) -> Organization | None:
    """The organisation, row-locked on PostgreSQL: membership changes in one organisation run one at a time.

    On SQLite every write transaction already runs alone (BEGIN IMMEDIATE).
    """
    query = select(Organization).where(Organization.id == organization_id).with_for_update()
    return await session.scalar(query)


async def list_members(
    session: AsyncSession, organization_id: str, *, limit: int, after_id: str | None
) -> list[MemberRow]:
    """A page of the organisation's members, oldest first (fetches `limit + 1`)."""
    query = _members(organization_id)
    if after_id:
        query = query.where(Membership.id > after_id)
    rows = await session.execute(query.order_by(Membership.id).limit(limit + 1))
    return [(membership, user) for membership, user in rows]


async def get_member(session: AsyncSession, organization_id: str, member_id: str) -> MemberRow | None:
    """The organisation's membership with this ID, with its person."""
    row = (await session.execute(_members(organization_id).where(Membership.id == member_id))).first()
    return (row[0], row[1]) if row else None


async def get_member_of_user(session: AsyncSession, organization_id: str, user_id: str) -> MemberRow | None:
    """The user's membership of the organisation, with the user."""
    row = (await session.execute(_members(organization_id).where(Membership.user_id == user_id))).first()
    return (row[0], row[1]) if row else None


async def count_owners(session: AsyncSession, organization_id: str) -> int:
    """How many owners the organisation has."""
    query = select(func.count()).where(Membership.organization_id == organization_id, Membership.role == Role.OWNER)
    return int(await session.scalar(query) or 0)


async def counts_by_role(session: AsyncSession, organization_id: str) -> dict[str, int]:
    """How many members hold each role."""
    rows = await session.execute(
        select(Membership.role, func.count())
        .where(Membership.organization_id == organization_id)
        .group_by(Membership.role)
    )
    return {role: int(count) for role, count in rows}


async def delete_member(session: AsyncSession, membership: Membership) -> None:
    """Remove a membership."""
    await session.execute(delete(Membership).where(Membership.id == membership.id))


async def live_tokens_of(session: AsyncSession, organization_id: str, user_id: str) -> list[ApiToken]:
    """The user's unrevoked API tokens in the organisation."""
    query = select(ApiToken).where(
        ApiToken.organization_id == organization_id,
        ApiToken.created_by_user_id == user_id,
        ApiToken.revoked_at.is_(None),
    )
    return list(await session.scalars(query))


async def revoke_tokens(session: AsyncSession, token_ids: list[str], revoked_at: datetime) -> None:
    """Mark these tokens revoked."""
    if token_ids:
        await session.execute(update(ApiToken).where(ApiToken.id.in_(token_ids)).values(revoked_at=revoked_at))


async def oldest_organization_of(session: AsyncSession, user_id: str, *, besides: str) -> str | None:
    """The ID of the user's oldest membership's organisation other than `besides`."""
    query = (
        select(Membership.organization_id)
        .where(Membership.user_id == user_id, Membership.organization_id != besides)
        .order_by(Membership.id)
        .limit(1)
    )
    return await session.scalar(query)


# --- invitations ---------------------------------------------------------------------------------


async def list_open_invitations(
    session: AsyncSession, organization_id: str, *, limit: int, after_id: str | None
) -> list[Invitation]:
    """A page of invitations not yet accepted or revoked (expired ones included), newest first."""
    query = select(Invitation).where(
        Invitation.organization_id == organization_id, Invitation.status == InvitationStatus.PENDING
    )
    if after_id:
        query = query.where(Invitation.id < after_id)
    return list(await session.scalars(query.order_by(Invitation.id.desc()).limit(limit + 1)))


async def get_invitation(session: AsyncSession, organization_id: str, invitation_id: str) -> Invitation | None:
    """The organisation's invitation with this ID."""
    query = select(Invitation).where(Invitation.organization_id == organization_id, Invitation.id == invitation_id)
    return await session.scalar(query)


async def open_invitation_for(session: AsyncSession, organization_id: str, email: str) -> Invitation | None:
    """The organisation's pending invitation of this address."""
    query = select(Invitation).where(
        Invitation.organization_id == organization_id,
        Invitation.email == email,
        Invitation.status == InvitationStatus.PENDING,
    )
    return await session.scalar(query)


async def invitation_by_token_hash(session: AsyncSession, token_hash: str) -> Invitation | None:
    """The invitation whose current token has this hash, row-locked on PostgreSQL (it is about to change)."""
    return await session.scalar(select(Invitation).where(Invitation.token_hash == token_hash).with_for_update())


async def pending_invitations(session: AsyncSession, organization_id: str, limit: int) -> list[Invitation]:
    """The newest pending invitations (expired ones included), for the MCP tool."""
    query = (
        select(Invitation)
        .where(Invitation.organization_id == organization_id, Invitation.status == InvitationStatus.PENDING)
        .order_by(Invitation.id.desc())
        .limit(limit + 1)
    )
    return list(await session.scalars(query))
