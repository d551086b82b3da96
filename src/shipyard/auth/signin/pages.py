"""The server-rendered pages a person sees: the sign-in buttons and the account page.

They hold no logic of their own: the account page reads through the same services as `/api/v1/me/*`,
token management calls the token API from the browser, and every form posts with the session's CSRF
token. Each page sends its own Content-Security-Policy: scripts and styles from this origin only, and
forms that may only lead here or to the OpenID provider (sign-in and sign-out redirect there).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from shipyard.auth.app_state import sign_in_state
from shipyard.auth.sessions import cookies, csrf
from shipyard.auth.sessions import service as sessions
from shipyard.auth.signin.endpoints import safe_return_to
from shipyard.identity import repository as identity_repository
from shipyard.identity.auth import Authenticated, resolve_principal
from shipyard.identity.principal import Principal
from shipyard.kit.deps import DBSession
from shipyard.kit.problems import ProblemError

if TYPE_CHECKING:
    from shipyard.auth.sessions.store import SessionStore
    from shipyard.settings import Settings

router = APIRouter(include_in_schema=False)

_templates = Environment(
    loader=PackageLoader("shipyard", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    auto_reload=False,
)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


_templates.filters["when"] = _when


def content_security_policy(settings: Settings) -> str:
    """The pages' CSP: everything from this origin only; forms may also lead to the OpenID provider."""
    form_targets = ["'self'"]
    if settings.oidc_issuer:
        issuer = urlsplit(settings.oidc_issuer)
        form_targets.append(f"{issuer.scheme}://{issuer.netloc}")
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        f"form-action {' '.join(form_targets)}; base-uri 'none'; frame-ancestors 'none'"
    )


def _page(request: Request, template: str, **context: Any) -> HTMLResponse:  # noqa: ANN401 - template values
    settings: Settings = sign_in_state(request.app).settings
    html = _templates.get_template(template).render(**context)
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": content_security_policy(settings),
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Referrer-Policy": "same-origin",
        },
    )


async def session_principal(request: Request) -> Principal | None:
    """The signed-in browser's principal; an API token does not make a browser session."""
    outcome = await resolve_principal(request.scope)
    return outcome if isinstance(outcome, Principal) and outcome.session_id else None


@router.get("/login")
async def login_page(request: Request, error: str | None = None, return_to: str | None = None) -> Any:  # noqa: ANN401 - a page or a redirect
    """The sign-in buttons: one per provider (Authentik), or a plain "Sign in"; `return_to` is where to come back."""
    back = safe_return_to(return_to) if return_to else None
    if await session_principal(request):
        return RedirectResponse(back or "/account", status_code=303)
    settings: Settings = sign_in_state(request.app).settings
    return _page(
        request,
        "login.html",
        enabled=settings.oidc_enabled and sign_in_state(request.app).oidc is not None,
        buttons=settings.sign_in_buttons,
        error=error if error and error.isidentifier() else None,
        return_to=back,
    )


@router.get("/account")
async def account_page(request: Request, db: DBSession) -> Any:  # noqa: ANN401 - a page or a redirect
    """Profile, linked identities, organisations, sessions and API tokens of the signed-in person."""
    principal = await session_principal(request)
    if principal is None:
        return await refresh_or_sign_in(request)
    settings: Settings = sign_in_state(request.app).settings
    store: SessionStore = sign_in_state(request.app).session_store
    account = await sessions.load_account(db, principal.user_id)
    organization = await identity_repository.get_organization(db, principal.organization_id)
    if account is None or organization is None:
        return RedirectResponse("/login", status_code=303)
    can_manage_tokens = principal.has_scope("tokens:write")
    tokens = await identity_repository.list_tokens_by_org(db, principal.organization_id) if can_manage_tokens else []
    return _page(
        request,
        "account.html",
        user=account.user,
        identities=account.identities,
        organizations=account.memberships,
        organization=organization,
        role=principal.role.value,
        sessions=await store.list_sessions(principal.user_id),
        current_session_id=principal.session_id,
        tokens=tokens,
        can_manage_tokens=can_manage_tokens,
        grantable_scopes=sorted(principal.scopes),
        csrf_token=csrf.csrf_token(principal.session_id or "", settings),
    )


async def refresh_or_sign_in(request: Request) -> RedirectResponse:
    """With a refresh cookie, rotate it and come back to the page; otherwise go and sign in."""
    settings: Settings = sign_in_state(request.app).settings
    refresh_token = cookies.read_refresh_cookie(dict(request.cookies), settings)
    if refresh_token is None:
        return RedirectResponse("/login", status_code=303)
    database = sign_in_state(request.app).database
    try:
        # A GET gets the request's read-only session; the rotation (and its audit event) writes in its own.
        async with database.writer() as session:
            issued = await sessions.rotate(sign_in_state(request.app).session_store, database, session, refresh_token)
            await session.commit()
    except ProblemError:  # expired, revoked or reused (reuse is audited and ends the session)
        response = RedirectResponse("/login", status_code=303)
        cookies.clear_session_cookies(response, settings)
        return response
    response = RedirectResponse(request.url.path, status_code=303)
    cookies.set_session_cookies(response, issued, settings)
    return response


@router.post("/account/sessions/{session_id}/revoke")
async def revoke_session(
    session_id: str, principal: Authenticated, db: DBSession, request: Request
) -> RedirectResponse:
    """Sign another browser of mine out (the form carries the CSRF token; the dependency checks it)."""
    await sessions.revoke_own_session(sign_in_state(request.app).session_store, db, principal.user_id, session_id)
    return RedirectResponse("/account", status_code=303)
