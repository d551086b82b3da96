"""What authenticating a request needs from browser sessions, as an interface identity/ owns.

`identity/auth.py` checks a bearer token itself and a session cookie through `BrowserSessions`, which
`auth/sessions/` implements and `create_app` installs as `app.state.browser_sessions`. So identity
imports nothing from auth, while auth builds on identity's Principal, scopes and repositories: the
dependency points one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shipyard.identity.authenticator import AuthFailure
from shipyard.kit.problems import ProblemError

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import Scope

    from shipyard.identity.principal import Principal

SESSION_EXPIRED = "session_expired"


@dataclass(frozen=True, slots=True)
class SessionFailure(AuthFailure):
    """A session cookie that opens no live session (expired, revoked, rotated away, or unknown)."""


def session_expired(detail: str | None = None) -> ProblemError:
    """401 `session_expired`: the browser should refresh (POST /api/auth/refresh) or sign in again."""
    return ProblemError(
        401,
        SESSION_EXPIRED,
        detail or "The browser session expired or was ended; refresh it (POST /api/auth/refresh) or sign in again.",
        headers={"WWW-Authenticate": 'Bearer realm="shipyard"'},
    )


class BrowserSessions(Protocol):
    """The cookie side of authentication: who the session cookie names, and the CSRF checks it owes."""

    async def authenticate(self, scope: Scope) -> Principal | SessionFailure | None:
        """The Principal behind the request's access cookie; None when the request carries no session cookie."""

    def csrf_headers_pass(self, scope: Scope, principal: Principal) -> bool | None:
        """The CSRF verdict from the headers alone (the body is not read yet); None when the method needs none."""

    async def require_csrf(self, request: Request, principal: Principal) -> None:
        """Return when the request passes CSRF (an HTML form's field counts); raise the 403 `csrf_failed` otherwise."""
