"""Business rules for invitations: invite, resend, revoke, accept. Services never commit.

An invitation's token is 256 random bits, sent only in the email's link (in the fragment, so no
proxy logs it) and stored only as its SHA-256 hash. Inviting never reveals whether the address
already has an account: the answer is the same either way, unless the address is already a
member of this organisation, which the member list shows anyway.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit import service as audit
from shipyard.email import service as email_service
from shipyard.email.messages import invitation_email
from shipyard.identity import repository as identity_repository
from shipyard.identity.principal import Principal
from shipyard.kit.problems import InvalidStateTransitionError, ProblemError
from shipyard.members import repository
from shipyard.members.service import owner_required
from shipyard.models import Invitation, InvitationStatus, Membership, Organization, Role, User
from shipyard.models.base import utcnow

TARGET = "invitation"
ACCEPT_PATH = "/invitations/accept"


@dataclass(frozen=True, slots=True)
class InvitationContext:
    """Where links point and how long they live (from settings)."""

    public_url: str
    ttl: timedelta


def hash_token(token: str) -> str:
    """The SHA-256 hex digest stored for a token (random, so neither salt nor stretching is needed)."""
    return hashlib.sha256(token.encode()).hexdigest()


def status_of(invitation: Invitation, now: datetime | None = None) -> str:
    """The status an answer shows: `expired` is a pending invitation past its expiry."""
    if invitation.status == InvitationStatus.PENDING and invitation.expires_at <= (now or utcnow()):
        return InvitationStatus.EXPIRED.value
    return invitation.status


def _problem(status: int, code: str, detail: str) -> ProblemError:
    return ProblemError(status, code, detail)


async def _is_member(session: AsyncSession, organization_id: str, email: str) -> bool:
    query = (
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organization_id == organization_id, func.lower(User.email) == email)
    )
    return await session.scalar(query) is not None


async def _send(
    session: AsyncSession, invitation: Invitation, organization: Organization, inviter: str, context: InvitationContext
) -> None:
    """A new token for the invitation, a new expiry, and the email carrying its link."""
    token = secrets.token_urlsafe(32)
    invitation.token_hash = hash_token(token)
    invitation.expires_at = utcnow() + context.ttl
    link = f"{context.public_url.rstrip('/')}{ACCEPT_PATH}#token={token}"
    draft = invitation_email(
        to=invitation.email,
        organization=organization.name,
        inviter=inviter,
        role=invitation.role,
        link=link,
        expires=invitation.expires_at,
    )
    await session.flush()
    await email_service.queue(session, draft, organization_id=organization.id)


async def _inviter_name(session: AsyncSession, principal: Principal | None) -> str:
    if principal is None:
        return "The administrator"
    user = await session.get(User, principal.user_id)
    return (user.name or user.email or "A member") if user else "A member"


async def create(  # noqa: PLR0913 - the invitation's parts, each keyword-only
    session: AsyncSession,
    principal: Principal | None,
    organization: Organization,
    *,
    email: str,
    role: Role,
    context: InvitationContext,
) -> Invitation:
    """Invite `email` with `role` and queue the email."""
    email = email.strip().lower()
    if role == Role.OWNER and principal is not None and principal.role != Role.OWNER:
        raise owner_required("invite an owner")
    await repository.lock_organization(session, organization.id)
    if await _is_member(session, organization.id, email):
        raise _problem(409, "already_a_member", "This address already belongs to a member of the organisation.")
    if await repository.open_invitation_for(session, organization.id, email) is not None:
        raise _problem(
            409, "invitation_exists", "This address already has an open invitation; resend or revoke that one."
        )
    invitation = Invitation(
        organization_id=organization.id,
        email=email,
        role=role.value,
        status=InvitationStatus.PENDING.value,
        invited_by_user_id=principal.user_id if principal else None,
    )
    session.add(invitation)
    await _send(session, invitation, organization, await _inviter_name(session, principal), context)
    audit.record(
        session,
        principal,
        "invitation.created",
        target_type=TARGET,
        target_id=invitation.id,
        details={"email": email, "role": role.value},
        organization_id=organization.id,
    )
    return invitation


async def resend(
    session: AsyncSession, principal: Principal | None, invitation: Invitation, context: InvitationContext
) -> Invitation:
    """A new link and a new expiry; the old link stops working. Only an open invitation can be resent."""
    if invitation.status != InvitationStatus.PENDING:
        raise InvalidStateTransitionError(TARGET, invitation.status, "resend")
    if invitation.role == Role.OWNER and principal is not None and principal.role != Role.OWNER:
        raise owner_required("resend an invitation to become an owner")
    organization = await identity_repository.get_organization(session, invitation.organization_id)
    if organization is None:  # pragma: no cover - the foreign key deletes invitations with their organisation
        msg = f"invitation {invitation.id} has no organisation"
        raise RuntimeError(msg)
    await _send(session, invitation, organization, await _inviter_name(session, principal), context)
    audit.record(
        session,
        principal,
        "invitation.resent",
        target_type=TARGET,
        target_id=invitation.id,
        organization_id=invitation.organization_id,
    )
    return invitation


async def revoke(session: AsyncSession, principal: Principal | None, invitation: Invitation) -> Invitation:
    """Revoke an open invitation (revoking twice keeps the first time; an accepted one is a 409)."""
    if invitation.status == InvitationStatus.REVOKED:
        return invitation
    if invitation.status != InvitationStatus.PENDING:
        raise InvalidStateTransitionError(TARGET, invitation.status, "revoke")
    if invitation.role == Role.OWNER and principal is not None and principal.role != Role.OWNER:
        raise owner_required("revoke an invitation to become an owner")
    invitation.status = InvitationStatus.REVOKED.value
    invitation.revoked_at = utcnow()
    await session.flush()
    audit.record(
        session,
        principal,
        "invitation.revoked",
        target_type=TARGET,
        target_id=invitation.id,
        organization_id=invitation.organization_id,
    )
    return invitation


@dataclass(frozen=True, slots=True)
class Accepted:
    """What accepting created."""

    membership: Membership
    user: User
    organization: Organization


async def _usable(session: AsyncSession, token: str) -> Invitation:
    invitation = await repository.invitation_by_token_hash(session, hash_token(token))
    if invitation is None:
        raise _problem(
            404, "invitation_not_found", "No invitation has this link: it is mistyped, or a newer email replaced it."
        )
    if invitation.status == InvitationStatus.ACCEPTED:
        raise _problem(409, "invitation_used", "This invitation was already accepted.")
    if invitation.status == InvitationStatus.REVOKED:
        raise _problem(410, "invitation_revoked", "This invitation was revoked; ask for a new one.")
    if invitation.expires_at <= utcnow():
        raise _problem(410, "invitation_expired", "This invitation link expired; ask for it to be sent again.")
    return invitation


async def accept(session: AsyncSession, principal: Principal, token: str) -> Accepted:
    """Join the invitation's organisation as the signed-in person, whose verified email must be the invited one."""
    invitation = await _usable(session, token)
    user = await session.get(User, principal.user_id)
    if user is None or not user.email or not user.email_verified:
        raise _problem(
            403, "email_not_verified", "Sign in with an account whose email address the provider has verified."
        )
    if user.email.lower() != invitation.email:
        raise _problem(
            403, "invitation_email_mismatch", "This invitation is for another email address; sign in with that one."
        )
    organization = await repository.lock_organization(session, invitation.organization_id)
    if organization is None:  # pragma: no cover - the foreign key deletes invitations with their organisation
        msg = f"invitation {invitation.id} has no organisation"
        raise RuntimeError(msg)
    if await repository.get_member_of_user(session, organization.id, user.id) is not None:
        raise _problem(409, "already_a_member", "You already belong to this organisation.")
    membership = Membership(organization_id=organization.id, user_id=user.id, role=invitation.role)
    session.add(membership)
    invitation.status = InvitationStatus.ACCEPTED.value
    invitation.accepted_at = utcnow()
    invitation.accepted_by_user_id = user.id
    await session.flush()
    # Recorded in the organisation joined, where its admins read their audit log.
    actor = replace(principal, organization_id=organization.id, role=Role(invitation.role))
    audit.record(session, actor, "invitation.accepted", target_type=TARGET, target_id=invitation.id)
    audit.record(
        session,
        actor,
        "member.added",
        target_type="member",
        target_id=membership.id,
        details={"user_id": user.id, "role": invitation.role, "invitation_id": invitation.id},
    )
    return Accepted(membership, user, organization)
