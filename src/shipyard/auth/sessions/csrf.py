"""CSRF protection for requests authenticated by the session cookie (bearer calls need none).

A state-changing request (POST, PUT, PATCH, DELETE) from a browser session must pass two checks:

1. **Synchronizer token.** `X-CSRF-Token` (or the form field `csrf_token`, for HTML forms) equals the
   session's token: HMAC-SHA256 over the session ID, keyed by a key derived from SHIPYARD_SECRET_KEY.
   A page reads it from the non-HttpOnly `__Host-shipyard_csrf` cookie or from `GET /api/v1/me`.
   Another site can neither read that cookie nor compute the token.
2. **Origin.** `Origin` (or, when a browser sends none, `Referer`) is the origin of `public_url`.

Without a secret key (development and tests only; production refuses to start without one) the key
is random per process, so tokens change when the process restarts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shipyard.kit.problems import ProblemError

if TYPE_CHECKING:
    from starlette.requests import Request

    from shipyard.settings import Settings

CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PURPOSE = b"shipyard/session-csrf/v1"
_PROCESS_KEY = secrets.token_bytes(32)


def _mac_key(secret: str) -> bytes:
    if not secret:
        return _PROCESS_KEY
    # A key of its own, so the CSRF MAC reveals nothing about keys derived for other purposes.
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def _key(settings: Settings) -> bytes:
    return _mac_key(settings.secret_key.get_secret_value() if settings.secret_key else "")


def _token(key: bytes, session_id: str) -> str:
    mac = hmac.new(key, session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def csrf_token(session_id: str, settings: Settings) -> str:
    """The CSRF token of a session (stable for the session's life), under the current secret key."""
    return _token(_key(settings), session_id)


def token_matches(presented: str | None, session_id: str, settings: Settings) -> bool:
    """Constant-time comparison of a presented token with the session's."""
    if not presented:
        return False
    # Pages rendered before a key rotation carry a token made with a previous key of the ring.
    keys = [_key(settings), *(_mac_key(previous) for previous in settings.previous_secret_keys)]
    matches = [hmac.compare_digest(presented.encode(), _token(key, session_id).encode()) for key in keys]
    return any(matches)


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL (default port dropped, lower-cased); None if it has none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}" if port in {None, _DEFAULT_PORTS[scheme]} else f"{scheme}://{host}:{port}"


def origin_allowed(origin: str | None, referer: str | None, settings: Settings) -> bool:
    """Whether the request comes from our own pages: its Origin (else its Referer) is `public_url`'s."""
    expected = origin_of(settings.public_url)
    presented = origin if origin is not None else referer
    if presented is None or expected is None:
        return False
    return origin_of(presented) == expected


def headers_pass(headers: dict[str, str], session_id: str, settings: Settings) -> bool:
    """Both checks on headers alone (lower-case names): the API path for `fetch` callers."""
    return origin_allowed(headers.get("origin"), headers.get("referer"), settings) and token_matches(
        headers.get(CSRF_HEADER.lower()), session_id, settings
    )


async def request_passes(request: Request, session_id: str, settings: Settings) -> bool:
    """Both checks, accepting the token from the header or, for an HTML form, from its `csrf_token` field."""
    if not origin_allowed(request.headers.get("origin"), request.headers.get("referer"), settings):
        return False
    if token_matches(request.headers.get(CSRF_HEADER), session_id, settings):
        return True
    content_type = request.headers.get("content-type", "").lower()
    if not content_type.startswith(_FORM_TYPES):
        return False
    try:
        form = await request.form()
    except Exception:  # noqa: BLE001 - an unreadable form carries no token
        return False
    field = form.get(CSRF_FIELD)
    return isinstance(field, str) and token_matches(field, session_id, settings)


def csrf_failed() -> ProblemError:
    """The 403 problem for a cookie-authenticated request that failed a CSRF check."""
    return ProblemError(
        403,
        "csrf_failed",
        f"A browser session's state-changing request needs its CSRF token (header {CSRF_HEADER} or form field "
        f"{CSRF_FIELD}) and an Origin of this site.",
    )
