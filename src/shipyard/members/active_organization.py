"""`POST /api/v1/me/active-organization`: which of the person's organisations a browser session acts in."""

from __future__ import annotations

from fastapi import APIRouter, Request

from shipyard.audit import service as audit
from shipyard.auth.session_endpoints import read_account
from shipyard.auth.session_schemas import AccountRead
from shipyard.auth.sessions import session_expired
from shipyard.auth.store import SessionStore
from shipyard.identity import repository as identity_repository
from shipyard.identity.auth import Authenticated
from shipyard.identity.principal import Principal
from shipyard.identity.scopes import ROLE_SCOPES
from shipyard.kit.api import API_V1
from shipyard.kit.deps import AppSettings, DBSession
from shipyard.kit.problems import ResourceNotFoundError, problem_responses
from shipyard.members.invitation_endpoints import browser_session_required
from shipyard.members.schemas import ActiveOrganizationSwitch

router = APIRouter(prefix=f"{API_V1}/me", tags=["identity"], responses=problem_responses(401, 403))


@router.post("/active-organization", response_model=AccountRead, responses=problem_responses(404, 415, 422))
async def switch_active_organization(
    body: ActiveOrganizationSwitch, principal: Authenticated, session: DBSession, request: Request, settings: AppSettings
) -> AccountRead:
    """Make another of your organisations the one this browser session acts in; answers the new `/me`."""
    if principal.session_id is None:
        raise browser_session_required("switch organisation (a token stays bound to its organisation)")
    # Checked and switched before the request's own transaction starts: the database session store
    # writes in a transaction of its own, which on SQLite would otherwise wait for the request's.
    async with request.app.state.database.reader() as reader:
        role = await identity_repository.get_role(reader, body.organization_id, principal.user_id)
    if role is None:
        # Not a member: answered exactly like an organisation that does not exist.
        raise ResourceNotFoundError("organization", body.organization_id)
    store: SessionStore = request.app.state.session_store
    if not await store.switch_organization(principal.session_id, body.organization_id):
        raise session_expired()
    switched = Principal(
        organization_id=body.organization_id,
        user_id=principal.user_id,
        role=role,
        scopes=ROLE_SCOPES[role],
        session_id=principal.session_id,
    )
    audit.record(
        session,
        switched,
        "session.organization_switched",
        target_type="organization",
        target_id=body.organization_id,
        details={"from": principal.organization_id},
    )
    return await read_account(switched, session, settings)
