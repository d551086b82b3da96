"""Business rules for members: roles, removal, leaving. Services never commit.

The rules (docs/api/members.md, decisions/0046): only an owner makes an owner or touches one; the
last owner can neither be demoted, nor removed, nor leave. Every change first locks the
organisation's row, so two changes in one organisation cannot both pass the last-owner check.
A caller of None is the command line (the operator), bound by the last-owner rule only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit import service as audit
from shipyard.identity.principal import Principal
from shipyard.kit.problems import ProblemError
from shipyard.members import repository
from shipyard.members.repository import MemberRow
from shipyard.members.schemas import MemberRead
from shipyard.models import Membership, Role, User
from shipyard.models.base import utcnow

TARGET = "member"


@dataclass(frozen=True, slots=True)
class Removal:
    """Who left or was removed, and the tokens of theirs that were revoked with the membership."""

    user_id: str
    revoked_token_hashes: list[tuple[str, str]]  # (token hash, token ID)


def member_read(membership: Membership, user: User) -> MemberRead:
    """The API's view of a membership."""
    return MemberRead(
        id=membership.id,
        user_id=user.id,
        email=user.email,
        name=user.name,
        role=Role(membership.role),
        created_at=membership.created_at,
        updated_at=membership.updated_at,
    )


def owner_required(action: str) -> ProblemError:
    """403 `owner_required`: only an owner may do this to, or for, an owner."""
    return ProblemError(403, "owner_required", f"Only an owner can {action}.")


def last_owner(action: str) -> ProblemError:
    """409 `last_owner`: the organisation would be left without an owner."""
    return ProblemError(
        409, "last_owner", f"The last owner cannot {action}: make another member an owner first."
    )


async def list_page(
    session: AsyncSession, principal: Principal, *, limit: int, after_id: str | None
) -> list[MemberRow]:
    """A page of the principal's organisation's members."""
    return await repository.list_members(session, principal.organization_id, limit=limit, after_id=after_id)


async def get(session: AsyncSession, organization_id: str, member_id: str) -> MemberRow | None:
    """The organisation's member with this ID, or None (also for another tenant's ID)."""
    return await repository.get_member(session, organization_id, member_id)


async def _locked(session: AsyncSession, organization_id: str, member_id: str) -> MemberRow | None:
    await repository.lock_organization(session, organization_id)
    return await repository.get_member(session, organization_id, member_id)


async def change_role(
    session: AsyncSession, principal: Principal | None, organization_id: str, member_id: str, role: Role
) -> MemberRow | None:
    """Give a member another role; None when there is no such member in the organisation."""
    found = await _locked(session, organization_id, member_id)
    if found is None:
        return None
    membership, user = found
    current = Role(membership.role)
    if current == role:
        return found
    if principal is not None and principal.role != Role.OWNER and Role.OWNER in {current, role}:
        raise owner_required("change an owner's role or make someone an owner")
    if current == Role.OWNER and await repository.count_owners(session, organization_id) <= 1:
        raise last_owner("be demoted")
    membership.role = role
    membership.updated_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal,
        "member.role_changed",
        target_type=TARGET,
        target_id=membership.id,
        details={"user_id": user.id, "from": current.value, "to": role.value},
        organization_id=organization_id,
    )
    return membership, user


async def remove(
    session: AsyncSession, principal: Principal | None, organization_id: str, member_id: str
) -> Removal | None:
    """Remove a member (leaving, when it is the caller); None when there is no such member."""
    found = await _locked(session, organization_id, member_id)
    if found is None:
        return None
    membership, user = found
    leaving = principal is not None and principal.user_id == user.id
    if membership.role == Role.OWNER:
        if principal is not None and not leaving and principal.role != Role.OWNER:
            raise owner_required("remove an owner")
        if await repository.count_owners(session, organization_id) <= 1:
            raise last_owner("leave" if leaving else "be removed")
    tokens = await repository.live_tokens_of(session, organization_id, user.id)
    # Revoked, not just refused: invited back later, the person must not find their old tokens alive.
    await repository.revoke_tokens(session, [token.id for token in tokens], utcnow())
    for token in tokens:
        audit.record(
            session,
            principal,
            "token.revoked",
            target_type="api_token",
            target_id=token.id,
            details={"reason": "member_removed"},
            organization_id=organization_id,
        )
    await repository.delete_member(session, membership)
    audit.record(
        session,
        principal,
        "member.left" if leaving else "member.removed",
        target_type=TARGET,
        target_id=membership.id,
        details={"user_id": user.id, "role": membership.role},
        organization_id=organization_id,
    )
    return Removal(user.id, [(token.token_hash, token.id) for token in tokens])
