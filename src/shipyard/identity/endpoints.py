"""Routes for API tokens (`/api/v1/me` lives with the sessions: auth/sessions/endpoints.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from shipyard.identity import service as identity_service
from shipyard.identity.app_state import identity_state
from shipyard.identity.auth import TokensWrite
from shipyard.identity.schemas import TokenCreate, TokenCreated, TokenRead
from shipyard.kit.api import API_V1
from shipyard.kit.deps import DBSession
from shipyard.kit.pagination import Page, PageParams, make_page, page_params_for
from shipyard.kit.problems import ResourceNotFoundError, problem_responses

router = APIRouter(prefix=API_V1, tags=["identity"], responses=problem_responses(401))
Paging = Annotated[PageParams, Depends(page_params_for("tok"))]


@router.get("/tokens", response_model=Page[TokenRead], responses=problem_responses(400, 403))
async def list_tokens(principal: TokensWrite, session: DBSession, paging: Paging) -> Page[TokenRead]:
    """The organisation's API tokens, newest first."""
    tokens = await identity_service.list_tokens(session, principal, limit=paging.limit, after_id=paging.after_id)
    items, cursor = make_page([TokenRead.model_validate(t) for t in tokens], [t.id for t in tokens], paging.limit)
    return Page[TokenRead](data=items, next_cursor=cursor)


@router.post("/tokens", status_code=201, response_model=TokenCreated, responses=problem_responses(403, 409, 422))
async def create_token(body: TokenCreate, principal: TokensWrite, session: DBSession) -> TokenCreated:
    """Create a token; its secret is in this response only. It cannot exceed your own scopes."""
    # TokenCreated carries a secret: the unit of work marks the response no-store and never stores it.
    issued = await identity_service.issue_token(
        session,
        principal.organization_id,
        principal.user_id,
        name=body.name,
        scopes=list(body.scopes),
        expires_in=timedelta(days=body.expires_in_days) if body.expires_in_days else None,
        principal=principal,
    )
    return TokenCreated(**TokenRead.model_validate(issued.token).model_dump(), token=issued.secret)


@router.get("/tokens/{token_id}", response_model=TokenRead, responses=problem_responses(403, 404))
async def read_token(token_id: str, principal: TokensWrite, session: DBSession) -> TokenRead:
    """One API token."""
    token = await identity_service.get_token(session, principal, token_id)
    if token is None:
        raise ResourceNotFoundError("api_token", token_id)
    return TokenRead.model_validate(token)


@router.delete("/tokens/{token_id}", response_model=TokenRead, responses=problem_responses(403, 404, 409))
async def revoke_token(token_id: str, principal: TokensWrite, session: DBSession, request: Request) -> TokenRead:
    """Revoke a token. It stops working at once in this process and within seconds everywhere."""
    token = await identity_service.get_token(session, principal, token_id)
    if token is None:
        raise ResourceNotFoundError("api_token", token_id)
    await identity_service.revoke_token(session, principal, token)
    identity_state(request.app).authenticator.mark_revoked(token.token_hash, token.id, token.organization_id)
    return TokenRead.model_validate(token)
