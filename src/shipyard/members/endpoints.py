"""Routes for `/api/v1/members`: list, read, change a role, remove (or leave)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from shipyard.auth.store import SessionStore
from shipyard.identity.auth import Authenticated, require_scopes
from shipyard.identity.principal import Principal
from shipyard.identity.scopes import Scope
from shipyard.kit.api import API_V1
from shipyard.kit.deps import DBSession
from shipyard.kit.pagination import Page, PageParams, make_page, page_params_for
from shipyard.kit.problems import ProblemError, ResourceNotFoundError, problem_responses
from shipyard.members import repository
from shipyard.members import service as member_service
from shipyard.members.schemas import MemberRead, MemberUpdate
from shipyard.models import Role

router = APIRouter(prefix=f"{API_V1}/members", tags=["members"], responses=problem_responses(401, 403))
Paging = Annotated[PageParams, Depends(page_params_for("mem"))]
MemberID = Annotated[str, "member ID"]
MembersRead = Annotated[Principal, require_scopes(Scope.MEMBERS_READ.value)]
MembersWrite = Annotated[Principal, require_scopes(Scope.MEMBERS_WRITE.value)]


def forget_cached_tokens(request: Request, organization_id: str, user_id: str) -> None:
    """This process stops honouring the member's cached token scopes now; others within the cache TTL."""
    request.app.state.authenticator.forget_member(organization_id, user_id)


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
        f"This token lacks the scope {Scope.MEMBERS_WRITE.value}.",
        missing_scopes=[Scope.MEMBERS_WRITE.value],
    )


@router.delete("/{member_id}", status_code=204, responses=problem_responses(404, 409))
async def remove_member(member_id: MemberID, principal: Authenticated, session: DBSession, request: Request) -> Response:
    """Remove a member; removing yourself is leaving (any role, from a browser). The last owner cannot leave."""
    organization_id = principal.organization_id
    database = request.app.state.database
    async with database.reader() as reader:
        found = await repository.get_member(reader, organization_id, member_id)
        leaving = found is not None and found[0].user_id == principal.user_id
        if found is not None and not (leaving and principal.session_id) and not principal.has_scope(Scope.MEMBERS_WRITE):
            raise _lacks_members_write()
        if leaving and principal.session_id:
            await _move_session_before_leaving(request, reader, principal, owner=found[0].role == Role.OWNER)
    removal = await member_service.remove(session, principal, organization_id, member_id)
    if removal is None:
        raise ResourceNotFoundError("member", member_id)
    forget_cached_tokens(request, organization_id, removal.user_id)
    for token_hash, token_id in removal.revoked_token_hashes:
        request.app.state.authenticator.mark_revoked(token_hash, token_id, organization_id)
    return Response(status_code=204)


async def _move_session_before_leaving(request: Request, reader: DBSession, principal: Principal, *, owner: bool) -> None:
    """Point the leaving browser session at another organisation of the person first.

    It happens before the request's own transaction starts: the database session store writes in a
    transaction of its own, which on SQLite would wait for the request's. The last-owner rule is
    checked here too, so a refused leave does not move the session; should it be refused later
    after all (a concurrent change), the session simply acts in another of the person's organisations.
    """
    if owner and await repository.count_owners(reader, principal.organization_id) <= 1:
        raise member_service.last_owner("leave")
    other = await repository.oldest_organization_of(reader, principal.user_id, besides=principal.organization_id)
    if other is not None and principal.session_id is not None:
        store: SessionStore = request.app.state.session_store
        await store.switch_organization(principal.session_id, other)
