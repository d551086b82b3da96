"""The cookie side of authentication: the `BrowserSessions` that `identity/auth.py` asks.

`create_app` installs `CookieSessions()` as the app state's `browser_sessions`; identity only knows the
interface (`identity/browser_sessions.py`), so it imports nothing from here.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from starlette.requests import cookie_parser

from shipyard.auth.app_state import sign_in_state
from shipyard.auth.failures import report_auth_failure
from shipyard.auth.sessions import cookies, csrf
from shipyard.auth.sessions.service import MEMBERSHIP_REMOVED, client_ip, current_role
from shipyard.identity.browser_sessions import SESSION_EXPIRED, SessionFailure
from shipyard.identity.principal import Principal
from shipyard.identity.scopes import ROLE_SCOPES
from shipyard.kit.asgi import header
from shipyard.models.base import utcnow

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import Scope

    from shipyard.auth.sessions.store import SessionStore

# `last_seen_at` is written at most this often per session: one write a minute, not one per request.
TOUCH_EVERY = timedelta(minutes=1)


class CookieSessions:
    """Browser sessions as `identity/auth.py` sees them (implements `BrowserSessions`)."""

    async def authenticate(self, scope: Scope) -> Principal | SessionFailure | None:
        """The Principal behind the request's access cookie; None when the request carries no session cookie."""
        return await authenticate_cookies(scope)

    def csrf_headers_pass(self, scope: Scope, principal: Principal) -> bool | None:
        """The header checks only (the body is not read yet); `require_csrf` also accepts a form field."""
        if scope["method"] not in csrf.UNSAFE_METHODS:
            return None
        headers = {
            name: value for name in ("origin", "referer", "x-csrf-token") if (value := header(scope, name.encode()))
        }
        return csrf.headers_pass(headers, principal.session_id or "", sign_in_state(scope["app"]).settings)

    async def require_csrf(self, request: Request, principal: Principal) -> None:
        """Accept an HTML form's `csrf_token` field (and Origin); otherwise refuse with 403 `csrf_failed`."""
        if await csrf.request_passes(request, principal.session_id or "", sign_in_state(request.app).settings):
            return
        report_auth_failure(
            reason="csrf_failed", client_ip=client_ip(), session_id=principal.session_id, path=request.url.path
        )
        raise csrf.csrf_failed()


async def authenticate_cookies(scope: Scope, *, now: datetime | None = None) -> Principal | SessionFailure | None:
    """The Principal behind the request's access cookie; None when the request carries no session cookie."""
    state = sign_in_state(scope["app"])
    settings = state.settings
    jar = cookie_parser(header(scope, b"cookie") or "")
    access = cookies.read_access_cookie(jar, settings)
    if access is None:
        # The browser dropped the short access cookie but still holds the refresh one: tell it to refresh.
        return SessionFailure(SESSION_EXPIRED) if cookies.read_refresh_cookie(jar, settings) else None
    store: SessionStore = state.session_store
    now = now or utcnow()
    record = await store.resolve_access(access, now=now)
    if record is None:
        return SessionFailure(SESSION_EXPIRED)
    role = await current_role(state.database, record)
    if role is None:
        # Removed from the organisation: the session is useless, and refreshing must not revive it.
        await store.revoke_session(record.session_id, MEMBERSHIP_REMOVED, now=now)
        return SessionFailure(MEMBERSHIP_REMOVED, organization_id=record.organization_id)
    if now - record.last_seen_at >= TOUCH_EVERY:
        await store.touch(record.session_id, now=now)
    return Principal(
        organization_id=record.organization_id,
        user_id=record.user_id,
        role=role,
        scopes=ROLE_SCOPES[role],
        session_id=record.session_id,
    )
