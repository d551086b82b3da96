"""FastAPI dependencies that authenticate the caller and enforce scopes.

Two credentials resolve to the same Principal: an API token (`Authorization: Bearer`) and a browser
session cookie. A bearer header wins over a cookie. A cookie-authenticated request that changes
state must also pass the CSRF checks (auth/sessions/csrf.py); a bearer call needs none. Cookies are
read through the `BrowserSessions` interface (identity/browser_sessions.py), so that identity never
imports the sign-in and session code built on top of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match, Mount

from shipyard.identity import audit_trail
from shipyard.identity.app_state import identity_state
from shipyard.identity.authenticator import AuthFailure, TokenAuthenticator
from shipyard.identity.browser_sessions import BrowserSessions, SessionFailure, session_expired
from shipyard.identity.principal import Principal
from shipyard.kit.asgi import header
from shipyard.kit.problems import ProblemError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from starlette.types import Scope

_BEARER = "bearer "
_CHALLENGE = 'Bearer realm="shipyard"'


async def resolve_principal(scope: Scope) -> Principal | AuthFailure | None:
    """Authenticate the request once, caching the outcome in the ASGI scope; None when no credential."""
    state: dict[str, Any] = scope.setdefault("state", {})
    if "auth_outcome" in state:
        return state["auth_outcome"]  # type: ignore[no-any-return]  # set below
    authorization = header(scope, b"authorization")
    outcome: Principal | AuthFailure | None = None
    if authorization is not None:
        if authorization[: len(_BEARER)].lower() != _BEARER:
            outcome = AuthFailure("unsupported_scheme")
        else:
            authenticator: TokenAuthenticator = identity_state(scope["app"]).authenticator
            context = state.get("request_context")
            outcome = await authenticator.authenticate(
                authorization[len(_BEARER) :].strip(), getattr(context, "ip", None)
            )
    else:
        sessions: BrowserSessions = identity_state(scope["app"]).browser_sessions
        outcome = await sessions.authenticate(scope)
        # Header checks only here (the body is not read yet); get_principal also accepts a form field.
        if isinstance(outcome, Principal) and (verdict := sessions.csrf_headers_pass(scope, outcome)) is not None:
            state["csrf_passed"] = verdict
    state["auth_outcome"] = outcome
    if isinstance(outcome, Principal):
        state["principal"] = outcome
    return outcome


async def principal_key(scope: Scope) -> str | None:
    """The Idempotency-Key scope of the caller, or None when the caller is not authenticated."""
    outcome = await resolve_principal(scope)
    if not isinstance(outcome, Principal) or scope.get("state", {}).get("csrf_passed") is False:
        # A cookie request that fails CSRF will be refused: nothing is worth remembering for its key.
        return None
    return outcome.idempotency_key


def _unauthenticated(detail: str) -> ProblemError:
    return ProblemError(401, "unauthenticated", detail, headers={"WWW-Authenticate": _CHALLENGE})


async def get_principal(request: Request) -> Principal:
    """The authenticated caller; a 401 problem (and an audit event on a refused token) otherwise."""
    principal = await _authenticated(request)
    if request.scope["state"].get("csrf_passed") is False:
        await _require_csrf(request, principal)
    return principal


async def _authenticated(request: Request) -> Principal:
    """The caller behind the credential, before any CSRF check; raises the 401 problem otherwise."""
    outcome = await resolve_principal(request.scope)
    if isinstance(outcome, Principal):
        return outcome
    if outcome is None:
        raise _unauthenticated("Send 'Authorization: Bearer <token>' with an API token.")
    if isinstance(outcome, SessionFailure):
        raise session_expired()
    # Its own transaction: the request's will be rolled back, and the refusal must still be recorded.
    async with identity_state(request.app).database.writer() as session:
        audit_trail.record_auth_failure(
            session, outcome.reason, token_id=outcome.token_id, organization_id=outcome.organization_id
        )
        await session.commit()
    raise ProblemError(
        401,
        "invalid_token",
        "The token is malformed, unknown, expired or revoked.",
        headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
    )


async def _require_csrf(request: Request, principal: Principal) -> None:
    """Accept an HTML form's `csrf_token` field (and Origin); otherwise refuse with 403 `csrf_failed`."""
    sessions: BrowserSessions = identity_state(request.app).browser_sessions
    await sessions.require_csrf(request, principal)
    request.scope["state"]["csrf_passed"] = True


class _ScopesRequired:
    """The dependency `require_scopes` returns; `scopes` tells `refuse_unauthorised` what the route needs."""

    def __init__(self, scopes: tuple[str, ...]) -> None:
        self.scopes = scopes

    # It takes the request and calls get_principal itself rather than depending on it: one level of
    # FastAPI's dependency resolution less on every authenticated request (get_principal caches its
    # outcome in the scope, so calling it again in the same request costs nothing).
    async def __call__(self, request: Request) -> Principal:
        principal = await get_principal(request)
        _check_scopes(principal, self.scopes)
        return principal


def _check_scopes(principal: Principal, scopes: Iterable[str]) -> None:
    missing = [scope for scope in scopes if not principal.has_scope(scope)]
    if missing:
        raise ProblemError(
            403,
            "insufficient_scope",
            f"This token lacks the scope{'s' if len(missing) > 1 else ''} {', '.join(missing)}.",
            missing_scopes=missing,
            headers={"WWW-Authenticate": f'{_CHALLENGE}, error="insufficient_scope", scope="{" ".join(missing)}"'},
        )


def require_scopes(*scopes: str) -> Any:  # noqa: ANN401 - returns a FastAPI Depends marker
    """A dependency that demands every scope in `scopes` (403 `insufficient_scope` names the missing ones)."""
    return Depends(_ScopesRequired(scopes))


Authenticated = Annotated[Principal, Depends(get_principal)]
CustomersRead = Annotated[Principal, require_scopes("customers:read")]
CustomersWrite = Annotated[Principal, require_scopes("customers:write")]
InvoicesRead = Annotated[Principal, require_scopes("invoices:read")]
InvoicesWrite = Annotated[Principal, require_scopes("invoices:write")]
TokensWrite = Annotated[Principal, require_scopes("tokens:write")]
AuditRead = Annotated[Principal, require_scopes("audit:read")]


async def refuse_unauthorised(scope: Scope) -> None:
    """Raise the 401 or 403 problem the request's route would answer; return when it would let it in.

    Input checks outside the route's dependencies (the body guard's 413 and 415, a malformed
    Idempotency-Key, a body FastAPI cannot parse, a validation error) call this before refusing, so
    that a caller learns it must authenticate, then that it lacks a scope, and only then what is
    wrong with its input. Only refusals pay for the route lookup; an accepted request never does.
    """
    if sum(1 for name, _ in scope["headers"] if name == b"authorization") > 1:
        return  # No credential can be chosen; the body guard refuses the request for that already.
    route = scope.get("route") or _matching_route(scope)
    needs_caller, scopes = _access_rule(route)
    if needs_caller:
        _check_scopes(await _authenticated(Request(scope)), scopes)


def _matching_route(scope: Scope) -> BaseRoute | None:
    # Middleware refuses before routing has run. HEAD is served by the GET route (kit/routing.py).
    probe = {**scope, "method": "GET"} if scope["method"] == "HEAD" else scope
    for route in scope["app"].router.routes:
        if not isinstance(route, Mount) and route.matches(probe)[0] is Match.FULL:
            return route  # type: ignore[no-any-return]  # Starlette's routes are typed as Any here
    return None


def _access_rule(route: BaseRoute | None) -> tuple[bool, tuple[str, ...]]:
    """Whether `route` needs an authenticated caller, and the scopes it demands, from its dependencies."""
    pending = [route.dependant] if isinstance(route, APIRoute) else []
    needs_caller = False
    scopes: list[str] = []
    while pending:
        for dependency in pending.pop().dependencies:
            if isinstance(dependency.call, _ScopesRequired):
                needs_caller = True
                scopes.extend(dependency.call.scopes)
            elif dependency.call is get_principal:
                needs_caller = True
            pending.append(dependency)
    return needs_caller, tuple(scopes)
