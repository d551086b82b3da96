"""Routes for `/api/v1/members`: list, read, change a role, remove (or leave)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from shipyard.auth.sessions.store import SessionStore
from shipyard.identity.app_state import identity_state
from shipyard.identity.auth import Authenticated, require_scopes
from shipyard.identity.principal import Principal
from shipyard.kit.api import API_V1
from shipyard.kit.deps import DBSession
from shipyard.kit.pagination import Page, PageParams, make_page, page_params_for
from shipyard.kit.problems import ProblemError, ResourceNotFoundError, problem_responses
from shipyard.members import service as member_service
from shipyard.members.catalogue import MEMBERS_READ, MEMBERS_WRITE
from shipyard.members.schemas import MemberRead, MemberUpdate

router = APIRouter(prefix=f"{API_V1}/members", tags=["members"], responses=problem_responses(401, 403))
Paging = Annotated[PageParams, Depends(page_params_for("mem"))]
MemberID = Annotated[str, "member ID"]
MembersRead = Annotated[Principal, require_scopes(MEMBERS_READ)]
MembersWrite = Annotated[Principal, require_scopes(MEMBERS_WRITE)]


def forget_cached_tokens(request: Request, organization_id: str, user_id: str) -> None:
    """Stop honouring the member's cached token scopes in this process now (others: within the cache TTL)."""
    identity_state(request.app).authenticator.forget_member(organization_id, user_id)


@router.get("", response_model=Page[MemberRead], responses=problem_responses(400, 422))
async def list_members(principal: MembersRead, session: DBSession, paging: Paging) -> Page[MemberRead]:
    """The organisation's members, oldest first."""
    rows = await member_service.list_page(session, principal, limit=paging.limit, after_id=paging.after_id)
    reads = [member_service.member_read(membership, user) for membership, user in rows]
    items, cursor = make_page(reads, [membership.id for membership, _ in rows], paging.limit)
    return Page[MemberRead](data=items, next_cursor=cursor)


@router.get("/{member_id}", response_model=MemberRead, responses=problem_responses(404))
async def read_member(member_id: MemberID, principal: MembersRead, session: DBSession) -> MemberRead:
    """One member."""
    found = await member_service.get(session, principal.organization_id, member_id)
    if found is None:
        raise ResourceNotFoundError("member", member_id)
    return member_service.member_read(*found)


@router.patch("/{member_id}", response_model=MemberRead, responses=problem_responses(404, 409, 415, 422))
async def update_member(
    member_id: MemberID, body: MemberUpdate, principal: MembersWrite, session: DBSession, request: Request
) -> MemberRead:
    """Change a member's role. Only an owner makes an owner or changes one; the last owner stays an owner."""
    changed = await member_service.change_role(session, principal, principal.organization_id, member_id, body.role)
    if changed is None:
        raise ResourceNotFoundError("member", member_id)
    forget_cached_tokens(request, principal.organization_id, changed[1].id)
    return member_service.member_read(*changed)


def _lacks_members_write() -> ProblemError:
    return ProblemError(
        403,
        "insufficient_scope",
        f"This token lacks the scope {MEMBERS_WRITE}.",
        missing_scopes=[MEMBERS_WRITE],
    )


@router.delete("/{member_id}", status_code=204, responses=problem_responses(404, 409))
async def remove_member(
    member_id: MemberID, principal: Authenticated, session: DBSession, request: Request
) -> Response:
    """Remove a member; removing yourself is leaving (any role, from a browser). The last owner cannot leave."""
    organization_id = principal.organization_id
    # Looked at in a reader of its own, before the request's transaction starts: a browser that leaves
    # moves its session first, and the database session store writes in a transaction of its own,
    # which on SQLite would wait for the request's.
    async with identity_state(request.app).database.reader() as reader:
        plan = await member_service.departure(reader, principal, member_id)
    from_browser = principal.session_id is not None
    needs_scope = plan.membership is not None and not (plan.leaving and from_browser)
    if needs_scope and not principal.has_scope(MEMBERS_WRITE):
        raise _lacks_members_write()
    if plan.leaving and from_browser:
        await _move_session_before_leaving(request, principal, plan)
    removal = await member_service.remove(session, principal, organization_id, member_id)
    if removal is None:
        raise ResourceNotFoundError("member", member_id)
    forget_cached_tokens(request, organization_id, removal.user_id)
    for token_hash, token_id in removal.revoked_token_hashes:
        identity_state(request.app).authenticator.mark_revoked(token_hash, token_id, organization_id)
    return Response(status_code=204)


async def _move_session_before_leaving(request: Request, principal: Principal, plan: member_service.Departure) -> None:
    """Point the leaving browser session at the person's oldest other organisation (none: it ends with them).

    A refused leave (the last owner) does not move the session; should the leave be refused later
    after all (a concurrent change), the session simply acts in another of the person's organisations.
    """
    if plan.last_owner:
        raise member_service.last_owner("leave")
    if plan.next_organization_id is not None and principal.session_id is not None:
        store: SessionStore = request.app.state.session_store
        await store.switch_organization(principal.session_id, plan.next_organization_id)
