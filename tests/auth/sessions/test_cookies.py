"""The cookies a session and a login set: names, attributes and lifetimes (no store involved)."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from starlette.requests import Request
from starlette.responses import Response

from shipyard.auth.sessions import cookies
from shipyard.auth.sessions.csrf import csrf_token
from shipyard.auth.sessions.store import IssuedSession, new_token
from shipyard.models.base import utcnow
from shipyard.settings import Settings


def _settings(**values: object) -> Settings:
    return Settings.model_validate({"env": "test", **values})


def _issued(*, remember: bool) -> IssuedSession:
    now = utcnow()
    return IssuedSession(
        session_id="ses_01JTEST0000000000000000000",
        access_token=new_token(),
        access_expires_at=now + timedelta(minutes=15),
        refresh_token=new_token(),
        refresh_expires_at=now + (timedelta(days=30) if remember else timedelta(hours=24)),
        remember=remember,
    )


def _set_cookies(response: Response) -> dict[str, dict[str, str | bool]]:
    """Set-Cookie headers parsed into {name: {"value": ..., attribute: value or True}}."""
    parsed: dict[str, dict[str, str | bool]] = {}
    for name, raw in response.raw_headers:
        if name != b"set-cookie":
            continue
        line = raw.decode("latin-1")
        cookie_name, _, rest = line.partition("=")
        value, *attributes = rest.split(";")
        entry: dict[str, str | bool] = {"value": value}
        for attribute in attributes:
            key, sep, attribute_value = attribute.strip().partition("=")
            entry[key.lower()] = attribute_value if sep else True
        parsed[cookie_name] = entry
    return parsed


@pytest.mark.parametrize("remember", [False, True])
def test_session_cookies_are_host_prefixed_secure_httponly_and_lax(remember: bool) -> None:
    settings = _settings()
    issued = _issued(remember=remember)
    response = Response()
    cookies.set_session_cookies(response, issued, settings)
    sent = _set_cookies(response)
    assert set(sent) == {"__Host-shipyard_session", "__Host-shipyard_refresh", "__Host-shipyard_csrf"}
    for cookie in sent.values():
        assert cookie["secure"] is True
        assert cookie["path"] == "/"
        assert cookie["samesite"] == "lax"
        assert "domain" not in cookie  # __Host- forbids it: no subdomain shares these cookies
    assert sent["__Host-shipyard_session"]["value"] == issued.access_token
    assert sent["__Host-shipyard_refresh"]["value"] == issued.refresh_token
    assert sent["__Host-shipyard_session"]["httponly"] is True
    assert sent["__Host-shipyard_refresh"]["httponly"] is True
    # The page's JavaScript reads the CSRF token; it grants nothing without the HttpOnly cookies.
    assert "httponly" not in sent["__Host-shipyard_csrf"]
    assert sent["__Host-shipyard_csrf"]["value"] == csrf_token(issued.session_id, settings)


def test_the_access_cookie_lasts_as_long_as_the_access_token() -> None:
    response = Response()
    cookies.set_session_cookies(response, _issued(remember=False), _settings())
    max_age = int(_set_cookies(response)["__Host-shipyard_session"]["max-age"])
    assert 15 * 60 - 5 <= max_age <= 15 * 60


def test_without_remember_me_the_refresh_and_csrf_cookies_end_with_the_browser() -> None:
    response = Response()
    cookies.set_session_cookies(response, _issued(remember=False), _settings())
    sent = _set_cookies(response)
    for name in ("__Host-shipyard_refresh", "__Host-shipyard_csrf"):
        assert "max-age" not in sent[name]
        assert "expires" not in sent[name]


def test_with_remember_me_the_refresh_and_csrf_cookies_last_30_days() -> None:
    response = Response()
    cookies.set_session_cookies(response, _issued(remember=True), _settings())
    sent = _set_cookies(response)
    for name in ("__Host-shipyard_refresh", "__Host-shipyard_csrf"):
        assert 30 * 86400 - 5 <= int(sent[name]["max-age"]) <= 30 * 86400


def test_clearing_expires_every_session_cookie() -> None:
    response = Response()
    cookies.clear_session_cookies(response, _settings())
    sent = _set_cookies(response)
    assert set(sent) == {"__Host-shipyard_session", "__Host-shipyard_refresh", "__Host-shipyard_csrf"}
    for cookie in sent.values():
        assert cookie["max-age"] == "0"
        assert cookie["value"] in {"", '""'}
        assert cookie["path"] == "/"
        assert cookie["secure"] is True


def test_the_login_cookie_is_short_lived_httponly_and_lax() -> None:
    settings = _settings(oidc_login_ttl_s=300)
    response = Response()
    cookies.set_login_cookie(response, "browser-secret", settings)
    login = _set_cookies(response)["__Host-shipyard_login"]
    assert login["value"] == "browser-secret"
    assert login["max-age"] == "300"
    assert (login["httponly"], login["secure"], login["path"], login["samesite"]) == (True, True, "/", "lax")
    assert "domain" not in login

    cleared = Response()
    cookies.clear_login_cookie(cleared, settings)
    assert _set_cookies(cleared)["__Host-shipyard_login"]["max-age"] == "0"


def test_the_login_cookie_is_read_back_from_the_request() -> None:
    settings = _settings()
    jar = SimpleCookie()
    jar["__Host-shipyard_login"] = "browser-secret"
    jar["shipyard_login"] = "an-insecure-copy"
    header = jar.output(header="", sep=";").strip().encode()
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [(b"cookie", header)]})
    assert cookies.read_login_cookie(request, settings) == "browser-secret"
    assert cookies.read_login_cookie(Request({"type": "http", "headers": []}), settings) is None


def test_development_over_http_drops_secure_and_the_host_prefix() -> None:
    settings = _settings(env="development", session_cookie_secure=False)
    response = Response()
    cookies.set_session_cookies(response, _issued(remember=False), settings)
    cookies.set_login_cookie(response, "browser-secret", settings)
    sent = _set_cookies(response)
    assert set(sent) == {"shipyard_session", "shipyard_refresh", "shipyard_csrf", "shipyard_login"}
    for cookie in sent.values():
        assert "secure" not in cookie
        assert cookie["samesite"] == "lax"
        assert cookie["path"] == "/"


def test_production_keeps_secure_cookies_even_if_told_otherwise() -> None:
    settings = _settings(env="production", session_cookie_secure=False)
    response = Response()
    cookies.set_login_cookie(response, "browser-secret", settings)
    assert _set_cookies(response)["__Host-shipyard_login"]["secure"] is True
