"""The browser's cookies: what each one holds, and the attributes that keep it where it belongs.

* `__Host-shipyard_session`: the access token (15 min). HttpOnly; Max-Age = its lifetime.
* `__Host-shipyard_refresh`: the refresh token (24 h, 30 days with "remember me"). HttpOnly.
* `__Host-shipyard_csrf`: the session's CSRF token, readable by the page's JavaScript (not HttpOnly).
* `__Host-shipyard_login`: the browser's secret for a login in flight (`oidc_login_ttl_s`). HttpOnly.

All are `Secure`, `Path=/`, without `Domain` (what the `__Host-` prefix demands, so no subdomain
can set or read them) and `SameSite=Lax` (sent on the top-level GET back from the provider, never
on a cross-site POST). Refresh and CSRF cookies persist (Max-Age) only with "remember me"; without
it they are session cookies the browser drops when it closes. The server enforces every lifetime
itself; cookie lifetimes only decide when a browser stops presenting a token.

Development exception: over plain http://localhost (`SHIPYARD_SESSION_COOKIE_SECURE=false`, refused
in production) a browser would reject `Secure` and `__Host-` cookies, so both are dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal

from shipyard.auth.sessions.csrf import csrf_token
from shipyard.models.base import utcnow

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from shipyard.auth.sessions.store import IssuedSession
    from shipyard.settings import Settings

HOST_PREFIX = "__Host-"
SESSION = "shipyard_session"
REFRESH = "shipyard_refresh"
CSRF = "shipyard_csrf"
LOGIN = "shipyard_login"
SAME_SITE: Literal["lax"] = "lax"


def cookie_name(base: str, settings: Settings) -> str:
    """`__Host-<base>` when cookies are Secure; plain `<base>` in the http development exception."""
    return f"{HOST_PREFIX}{base}" if settings.cookie_secure else base


def _seconds_until(moment: datetime) -> int:
    return max(0, int((moment - utcnow()).total_seconds()))


def _set(
    response: Response, base: str, value: str, settings: Settings, *, max_age: int | None, http_only: bool = True
) -> None:
    response.set_cookie(
        cookie_name(base, settings),
        value,
        max_age=max_age,
        path="/",
        domain=None,
        secure=settings.cookie_secure,
        httponly=http_only,
        samesite=SAME_SITE,
    )


def _clear(response: Response, base: str, settings: Settings, *, http_only: bool = True) -> None:
    _set(response, base, "", settings, max_age=0, http_only=http_only)


def set_session_cookies(response: Response, issued: IssuedSession, settings: Settings) -> None:
    """Set the access, refresh and CSRF cookies for a new or rotated session."""
    persistent = _seconds_until(issued.refresh_expires_at) if issued.remember else None
    _set(response, SESSION, issued.access_token, settings, max_age=_seconds_until(issued.access_expires_at))
    _set(response, REFRESH, issued.refresh_token, settings, max_age=persistent)
    _set(response, CSRF, csrf_token(issued.session_id, settings), settings, max_age=persistent, http_only=False)


def clear_session_cookies(response: Response, settings: Settings) -> None:
    """Expire the session's cookies (sign-out, or a session the server no longer knows)."""
    _clear(response, SESSION, settings)
    _clear(response, REFRESH, settings)
    _clear(response, CSRF, settings, http_only=False)


def read_access_cookie(cookies: dict[str, str], settings: Settings) -> str | None:
    """The access token the browser sent, if any."""
    return cookies.get(cookie_name(SESSION, settings)) or None


def read_refresh_cookie(cookies: dict[str, str], settings: Settings) -> str | None:
    """The refresh token the browser sent, if any."""
    return cookies.get(cookie_name(REFRESH, settings)) or None


def set_login_cookie(response: Response, browser_secret: str, settings: Settings) -> None:
    """Bind a login in flight to this browser, for as long as a login may take."""
    _set(response, LOGIN, browser_secret, settings, max_age=settings.oidc_login_ttl_s)


def read_login_cookie(request: Request, settings: Settings) -> str | None:
    """The browser's login secret, if it has one."""
    return request.cookies.get(cookie_name(LOGIN, settings)) or None


def clear_login_cookie(response: Response, settings: Settings) -> None:
    """Forget the login secret once the callback has used it."""
    _clear(response, LOGIN, settings)
