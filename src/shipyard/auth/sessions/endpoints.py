"""Routes for browser sessions: refresh, sign-out, and the person's own account and sessions.

`/api/auth/*` are browser endpoints (cookies, redirects) kept out of the API schema; `/api/v1/me*`
are API routes that work with a session cookie or a bearer token alike.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from shipyard.auth import audit
from shipyard.auth.app_state import sign_in_state
from shipyard.auth.failures import report_auth_failure
from shipyard.auth.sessions import cookies, csrf
from shipyard.auth.sessions import service as sessions
from shipyard.auth.sessions.schemas import (
    AccountRead,
    RefreshedRead,
    SessionList,
    SessionRead,
)
from shipyard.auth.sessions.store import SessionRecord, SessionStore
from shipyard.identity.auth import Authenticated
from shipyard.identity.browser_sessions import session_expired
from shipyard.identity.catalogue import TOKENS_WRITE
from shipyard.kit.api import API_V1
from shipyard.kit.deps import AppSettings, DBSession
from shipyard.kit.problems import ProblemError, problem_responses, render_problem_error
from shipyard.settings import Settings

router = APIRouter()
SessionID = str


def _store(request: Request) -> SessionStore:
    return sign_in_state(request.app).session_store


def _refused(exc: ProblemError, settings: Settings) -> Response:
    """A problem answer that also drops the session cookies: the session they name is gone."""
    response = render_problem_error(exc)
    cookies.clear_session_cookies(response, settings)
    return response


async def _require_csrf(request: Request, record: SessionRecord, settings: Settings) -> None:
    if not await csrf.request_passes(request, record.session_id, settings):
        report_auth_failure(
            reason="csrf_failed", client_ip=sessions.client_ip(), session_id=record.session_id, path=request.url.path
        )
        raise csrf.csrf_failed()


# --- browser endpoints ---------------------------------------------------------------------------


@router.post("/api/auth/refresh", include_in_schema=False)
async def refresh(request: Request, session: DBSession, settings: AppSettings) -> Response:
    """Rotate the refresh token: new access and refresh cookies; the old pair stops working."""
    store = _store(request)
    token = cookies.read_refresh_cookie(request.cookies, settings)
    record = await store.find_by_refresh(token) if token else None
    if token is None or record is None:
        return _refused(session_expired("No live session to refresh; sign in again."), settings)
    await _require_csrf(request, record, settings)
    try:
        issued = await sessions.rotate(store, sign_in_state(request.app).database, session, token)
    except ProblemError as exc:
        return _refused(exc, settings)
    body = RefreshedRead(
        session_id=issued.session_id,
        access_expires_at=issued.access_expires_at,
        refresh_expires_at=issued.refresh_expires_at,
    )
    # no-store: the response sets token cookies, so no cache (nor the Idempotency-Key store) may keep it.
    response = JSONResponse(body.model_dump(mode="json"), headers={"Cache-Control": "no-store"})
    cookies.set_session_cookies(response, issued, settings)
    return response


@router.post("/api/auth/logout", include_in_schema=False)
async def logout(request: Request, session: DBSession, settings: AppSettings) -> Response:
    """End the session server-side, drop the cookies, and sign out at the provider when it supports it."""
    store = _store(request)
    access = cookies.read_access_cookie(request.cookies, settings)
    refresh_token = cookies.read_refresh_cookie(request.cookies, settings)
    record = await store.resolve_access(access) if access else None
    if record is None and refresh_token:
        record = await store.find_by_refresh(refresh_token)
    target: str | None = None
    if record is not None:
        await _require_csrf(request, record, settings)
        await sessions.end_session(store, session, record, audit.LOGOUT, reason="logout")
        target = await _end_session_url(request, record.id_token_hint)
    response = RedirectResponse(target or "/", status_code=303)
    cookies.clear_session_cookies(response, settings)
    return response


async def _end_session_url(request: Request, id_token_hint: str | None) -> str | None:
    """The provider's RP-initiated logout URL, or None (sign-in not configured, or not supported)."""
    oidc = sign_in_state(request.app).oidc
    if oidc is None:
        return None
    url: str | None = await oidc.end_session_url(id_token_hint)
    return url or None


# --- the person's account and sessions (API) ----------------------------------------------------


@router.get(f"{API_V1}/me", response_model=AccountRead, tags=["identity"], responses=problem_responses(401, 404))
async def read_account(principal: Authenticated, session: DBSession, settings: AppSettings) -> AccountRead:
    """The caller, its organisation and scopes, and the person's profile, identities and organisations."""
    return await sessions.account_read(session, principal, settings)


def _session_read(record: SessionRecord, current_session_id: str | None) -> SessionRead:
    return SessionRead(
        id=record.session_id,
        current=record.session_id == current_session_id,
        provider=record.provider,
        ip=record.ip,
        user_agent=record.user_agent,
        remember=record.remember,
        created_at=record.created_at,
        last_seen_at=record.last_seen_at,
        expires_at=record.expires_at,
    )


@router.get(f"{API_V1}/me/sessions", response_model=SessionList, tags=["sessions"], responses=problem_responses(401))
async def list_my_sessions(principal: Authenticated, request: Request) -> SessionList:
    """The caller's signed-in browsers, newest first; `current` marks the one making this call."""
    records = await _store(request).list_sessions(principal.user_id)
    return SessionList(data=[_session_read(record, principal.session_id) for record in records])


@router.delete(
    f"{API_V1}/me/sessions/{{session_id}}",
    status_code=204,
    tags=["sessions"],
    responses=problem_responses(401, 403, 404),
)
async def revoke_my_session(
    session_id: SessionID, principal: Authenticated, session: DBSession, request: Request
) -> None:
    """Sign one of your browsers out at once. An API token needs `tokens:write` for this."""
    if principal.token_id is not None and not principal.has_scope(TOKENS_WRITE):
        raise ProblemError(
            403,
            "insufficient_scope",
            f"This token lacks the scope {TOKENS_WRITE}.",
            missing_scopes=[TOKENS_WRITE],
        )
    await sessions.revoke_own_session(_store(request), session, principal.user_id, session_id)
