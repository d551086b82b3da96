"""Routes for `/api/v1/invitations`: invite, list, revoke, resend, and accept (a signed-in browser)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from shipyard.identity import repository as identity_repository
from shipyard.identity.auth import Authenticated
from shipyard.identity.principal import Principal
from shipyard.kit.api import API_V1
from shipyard.kit.deps import AppSettings, DBSession
from shipyard.kit.pagination import Page, PageParams, make_page, page_params_for
from shipyard.kit.problems import ProblemError, ResourceNotFoundError, problem_responses
from shipyard.members import invitations, repository
from shipyard.members import service as member_service
from shipyard.members.endpoints import MembersWrite
from shipyard.members.schemas import (
    InvitationAccept,
    InvitationAccepted,
    InvitationCreate,
    InvitationRead,
    OrganizationMembership,
)
from shipyard.models import Invitation, Role
from shipyard.settings import Settings

router = APIRouter(prefix=f"{API_V1}/invitations", tags=["members"], responses=problem_responses(401, 403))
Paging = Annotated[PageParams, Depends(page_params_for("ivt"))]
InvitationID = Annotated[str, "invitation ID"]


def context_from(settings: Settings) -> invitations.InvitationContext:
    """Where invitation links point and how long they live."""
    return invitations.InvitationContext(settings.public_url, timedelta(days=settings.invitation_ttl_days))


def invitation_read(invitation: Invitation) -> InvitationRead:
    """The API's view of an invitation; never its token."""
    return InvitationRead(
        id=invitation.id,
        email=invitation.email,
        role=Role(invitation.role),
        status=invitations.status_of(invitation),
        expires_at=invitation.expires_at,
        created_at=invitation.created_at,
    )


def browser_session_required(action: str) -> ProblemError:
    """403 `browser_session_required`: an API token stays bound to its organisation and cannot do this."""
    return ProblemError(
        403, "browser_session_required", f"Only a signed-in browser session can {action}; API tokens cannot."
    )


@router.get("", response_model=Page[InvitationRead], responses=problem_responses(400, 422))
async def list_invitations(principal: MembersWrite, session: DBSession, paging: Paging) -> Page[InvitationRead]:
    """Invitations not yet accepted or revoked (expired ones too, to resend), newest first."""
    rows = await repository.list_open_invitations(
        session, principal.organization_id, limit=paging.limit, after_id=paging.after_id
    )
    items, cursor = make_page([invitation_read(row) for row in rows], [row.id for row in rows], paging.limit)
    return Page[InvitationRead](data=items, next_cursor=cursor)


@router.post("", status_code=201, response_model=InvitationRead, responses=problem_responses(409, 413, 415, 422))
async def create_invitation(
    body: InvitationCreate, principal: MembersWrite, session: DBSession, response: Response, settings: AppSettings
) -> InvitationRead:
    """Invite an email address with a role; the link goes by email and expires (7 days by default)."""
    organization = await identity_repository.get_organization(session, principal.organization_id)
    if organization is None:
        raise ResourceNotFoundError("organization", principal.organization_id)
    invitation = await invitations.create(
        session, principal, organization, email=str(body.email), role=body.role, context=context_from(settings)
    )
    response.headers["Location"] = f"{API_V1}/invitations/{invitation.id}"
    return invitation_read(invitation)


async def _own(session: DBSession, principal: Principal, invitation_id: str) -> Invitation:
    invitation = await repository.get_invitation(session, principal.organization_id, invitation_id)
    if invitation is None:
        raise ResourceNotFoundError("invitation", invitation_id)
    return invitation


@router.delete("/{invitation_id}", response_model=InvitationRead, responses=problem_responses(404, 409))
async def revoke_invitation(invitation_id: InvitationID, principal: MembersWrite, session: DBSession) -> InvitationRead:
    """Revoke an invitation: its link stops working. Revoking twice changes nothing."""
    invitation = await invitations.revoke(session, principal, await _own(session, principal, invitation_id))
    return invitation_read(invitation)


@router.post("/{invitation_id}/resend", response_model=InvitationRead, responses=problem_responses(404, 409))
async def resend_invitation(
    invitation_id: InvitationID, principal: MembersWrite, session: DBSession, settings: AppSettings
) -> InvitationRead:
    """Email a new link with a new expiry; the previous link stops working."""
    invitation = await _own(session, principal, invitation_id)
    return invitation_read(await invitations.resend(session, principal, invitation, context_from(settings)))


@router.post(
    "/accept", response_model=InvitationAccepted, responses=problem_responses(404, 409, 410, 413, 415, 422)
)
async def accept_invitation(body: InvitationAccept, principal: Authenticated, session: DBSession) -> InvitationAccepted:
    """Join the organisation you were invited to, signed in with the invited, verified email address."""
    if principal.session_id is None:
        raise browser_session_required("accept an invitation")
    accepted = await invitations.accept(session, principal, body.token)
    organization = accepted.organization
    return InvitationAccepted(
        member=member_service.member_read(accepted.membership, accepted.user),
        organization=OrganizationMembership(
            id=organization.id, slug=organization.slug, name=organization.name, role=Role(accepted.membership.role)
        ),
    )
