"""Browser sign-in: `GET /api/auth/login` sends the browser to the IdP, `GET /api/auth/callback` brings it back.

The login start keeps the one-time `state`, the nonce and the PKCE verifier server-side (the session
store), bound to a random secret in the browser's login cookie; nothing about the login travels in a
cookie. The callback takes that attempt back (one-time, whatever the browser), exchanges the code,
checks the ID token and userinfo (auth/oidc/client.py), finds or creates the account (auth/signin/service.py) and
starts a fresh session. Every refusal fails closed: a `login_failed` problem naming a reason code, an
audit event in a transaction of its own (the request's rolls back) and an `auth_failed` log event.
"""

from __future__ import annotations

import re
import secrets
from typing import Annotated, Final
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from pydantic import ValidationError
from starlette.responses import RedirectResponse, Response

from shipyard.auth import audit
from shipyard.auth.app_state import sign_in_state
from shipyard.auth.failures import report_auth_failure
from shipyard.auth.oidc.client import (
    INVALID_LOGIN_ATTEMPT,
    ISSUER_MISMATCH,
    LOGIN_EXPIRED,
    PROVIDER_ERROR,
    STATE_MISMATCH,
    LoginError,
    OIDCClient,
    ProviderUnavailableError,
)
from shipyard.auth.sessions import cookies
from shipyard.auth.sessions.store import NewSession, SessionStore
from shipyard.auth.signin import service
from shipyard.auth.signin.metrics import count_sign_in
from shipyard.auth.signin.rate_limit import rate_limited
from shipyard.auth.signin.schemas import LoginAttemptData
from shipyard.kit.context import current_request_context
from shipyard.kit.deps import AppSettings, DBWriterSession
from shipyard.kit.problems import ProblemError, render_problem_error
from shipyard.settings import Settings

router = APIRouter(prefix="/api/auth", include_in_schema=False)

DEFAULT_RETURN_TO: Final = "/account"
_MAX_RETURN_TO: Final = 2048
_MAX_PARAM: Final = 4096
# The login cookie's secret: what secrets.token_urlsafe(32) makes; anything else is replaced.
_BROWSER_SECRET: Final = re.compile(r"[A-Za-z0-9_-]{43,128}")
_PROVIDER_ERROR_CODE: Final = re.compile(r"[a-z_]{1,64}")
_NO_STORE: Final = {"Cache-Control": "no-store"}

Param = Annotated[str | None, Query(max_length=_MAX_PARAM)]


def safe_return_to(value: str | None) -> str:
    """`value` if it is a path on this site, else the account page (no open redirect)."""
    if not value or len(value) > _MAX_RETURN_TO or not value.startswith("/") or value.startswith("//"):
        return DEFAULT_RETURN_TO
    # Browsers read "\" as "/" ("/\evil.example" is another host) and drop tabs and newlines.
    if "\\" in value or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):  # noqa: PLR2004 - C0 controls
        return DEFAULT_RETURN_TO
    parts = urlsplit(value)
    return DEFAULT_RETURN_TO if parts.scheme or parts.netloc else value


def _client(request: Request) -> OIDCClient:
    client: OIDCClient | None = sign_in_state(request.app).oidc
    if client is None:
        raise ProblemError(
            404,
            "sign_in_not_configured",
            "Browser sign-in is not configured on this server (SHIPYARD_OIDC_ISSUER); API tokens still work.",
        )
    return client


def _store(request: Request) -> SessionStore:
    return sign_in_state(request.app).session_store


def _unavailable(exc: ProviderUnavailableError) -> ProblemError:
    return ProblemError(
        503, "identity_provider_unavailable", exc.detail, headers={"Retry-After": "30"}, reason=exc.reason
    )


@router.get("/login", dependencies=[rate_limited("auth_login")])
async def login(
    request: Request,
    settings: AppSettings,
    provider: Annotated[str | None, Query(max_length=64)] = None,
    remember: bool = False,
    return_to: Param = None,
) -> Response:
    """Start a sign-in: remember state, nonce and PKCE verifier for this browser, and send it to the IdP."""
    client = _client(request)
    # Only a configured button's slug is used (for Authentik's jump to that source, and as the audit fallback).
    source = provider if provider in {slug for slug, _ in settings.sign_in_buttons if slug} else None
    try:
        authorization = await client.authorization_request(source=source)
    except ProviderUnavailableError as exc:
        raise _unavailable(exc) from exc
    # A second tab keeps the browser's secret, so both logins can finish.
    browser_secret = cookies.read_login_cookie(request, settings)
    if browser_secret is None or not _BROWSER_SECRET.fullmatch(browser_secret):
        browser_secret = secrets.token_urlsafe(32)
    attempt = LoginAttemptData(
        nonce=authorization.nonce,
        code_verifier=authorization.code_verifier,
        provider=source,
        remember=remember,
        return_to=safe_return_to(return_to),
    )
    await _store(request).save_login_attempt(
        authorization.state, browser_secret, attempt.model_dump(), settings.oidc_login_ttl_s
    )
    response = RedirectResponse(authorization.url, status_code=302, headers=_NO_STORE)
    cookies.set_login_cookie(response, browser_secret, settings)
    return response


@router.get("/callback", dependencies=[rate_limited("auth_callback")])
async def callback(
    request: Request,
    db: DBWriterSession,
    settings: AppSettings,
    code: Param = None,
    state: Param = None,
    error: Param = None,
    iss: Param = None,
) -> Response:
    """Finish a sign-in: check everything the IdP sent, find or create the account and start a session."""
    client = _client(request)
    attempt: LoginAttemptData | None = None
    try:
        attempt = await _take_attempt(request, settings, state)
        metadata = await client.metadata()
        login = await client.complete(
            code=_authorization_code(
                client, code=code, error=error, iss=iss, iss_required=metadata.iss_parameter_supported
            ),
            code_verifier=attempt.code_verifier,
            nonce=attempt.nonce,
        )
    except LoginError as exc:
        await _refuse(request, exc, provider=attempt.provider if attempt else None)
        problem = (
            _unavailable(exc)
            if isinstance(exc, ProviderUnavailableError)
            else ProblemError(400, "login_failed", exc.detail, reason=exc.reason)
        )
        # The attempt is spent, so the browser's login secret is of no further use; and a refusal,
        # like every answer of the sign-in flow, is never cached.
        refusal = render_problem_error(problem)
        refusal.headers.update(_NO_STORE)
        cookies.clear_login_cookie(refusal, settings)
        return refusal

    profile = service.profile_from_login(login, fallback_provider=attempt.provider)
    result = await service.sign_in(db, profile)
    context = current_request_context()
    issued = await _store(request).create_session(
        db,
        NewSession(
            user_id=result.user.id,
            organization_id=result.organization.id,
            provider=profile.provider,
            ip=context.ip if context else None,
            user_agent=(request.headers.get("user-agent") or "")[:512] or None,
            remember=attempt.remember,
            # Kept only where RP-initiated logout will use it (decisions/0009).
            id_token_hint=login.id_token if metadata.end_session_endpoint else None,
        ),
    )
    audit.record_auth_event(
        db,
        audit.LOGIN_SUCCEEDED,
        user_id=result.user.id,
        organization_id=result.organization.id,
        provider=profile.provider,
        session_id=issued.session_id,
        details={"identity_id": result.identity.id, "new_user": result.created, "remember": attempt.remember},
    )
    count_sign_in(request, settings, provider=profile.provider)
    response = RedirectResponse(attempt.return_to, status_code=303, headers=_NO_STORE)
    cookies.set_session_cookies(response, issued, settings)
    cookies.clear_login_cookie(response, settings)
    return response


async def _take_attempt(request: Request, settings: Settings, state: str | None) -> LoginAttemptData:
    """The login this callback finishes: one-time, and only for the browser that started it."""
    if not state:
        raise LoginError(STATE_MISMATCH, "The answer from the identity provider carries no state.", check="state")
    browser_secret = cookies.read_login_cookie(request, settings)
    # Taken even without the cookie, so a state shown to another browser is spent at once.
    data = await _store(request).take_login_attempt(state, browser_secret or "")
    if browser_secret is None:
        detail = "This sign-in expired or was started in another browser; please sign in again."
        raise LoginError(LOGIN_EXPIRED, detail, check="login_cookie")
    if data is None:
        detail = "This sign-in is unknown, already used, expired or from another browser; please sign in again."
        raise LoginError(STATE_MISMATCH, detail, check="state")
    try:
        return LoginAttemptData.model_validate(data)
    except ValidationError as exc:
        raise LoginError(INVALID_LOGIN_ATTEMPT, "This sign-in cannot be finished; please sign in again.") from exc


def _authorization_code(
    client: OIDCClient, *, code: str | None, error: str | None, iss: str | None, iss_required: bool
) -> str:
    """The code of a successful authorization response from our issuer."""
    if iss is None and iss_required:
        # RFC 9207 2.4: a provider that advertises `iss` always sends it; an answer without it may be
        # another provider's, replayed here (a mix-up attack). Error answers carry it too, so
        # both checks come before `error`.
        raise LoginError(ISSUER_MISMATCH, "The answer does not name the identity provider.", check="iss_missing")
    if iss is not None and iss != client.issuer:
        # RFC 9207: the response names another issuer (a mix-up attack).
        raise LoginError(ISSUER_MISMATCH, "The answer came from another identity provider.", check="iss")
    if error is not None:
        code_name = error if _PROVIDER_ERROR_CODE.fullmatch(error) else "invalid"
        raise LoginError(PROVIDER_ERROR, "The identity provider did not sign you in.", check=code_name)
    if not code:
        raise LoginError(PROVIDER_ERROR, "The identity provider sent no authorization code.", check="code")
    return code


async def _refuse(request: Request, exc: LoginError, *, provider: str | None) -> None:
    """Audit (in a transaction of its own) and log a refused sign-in."""
    context = current_request_context()
    details = {"check": exc.check} if exc.check else {}
    count_sign_in(request, sign_in_state(request.app).settings, provider=provider, reason=exc.reason)
    await audit.record_auth_event_now(
        sign_in_state(request.app).database,
        audit.LOGIN_FAILED,
        user_id=None,
        organization_id=None,
        provider=provider,
        reason=exc.reason,
        details=details,
    )
    if not isinstance(exc, ProviderUnavailableError):
        # An outage at the provider is no attempt of this client's: fail2ban must not count it.
        report_auth_failure(reason=exc.reason, client_ip=context.ip if context else None, provider=provider, **details)
