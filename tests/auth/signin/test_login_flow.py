"""The sign-in flow end to end: our app in-process, the real OpenID provider over the network."""

# ruff: noqa: F811 - test parameters name the pytest fixtures imported from tests/fixtures/signin.py

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select

from shipyard.app import create_app
from shipyard.auth import audit
from shipyard.auth.signin.endpoints import safe_return_to
from shipyard.models import AuthSession, UserIdentity
from shipyard.settings import Settings
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.oidc import OidcProvider, sign_in_at_provider, sign_out_at_provider
from tests.fixtures.signin import (  # noqa: F401 - fixtures are found by the names a module holds
    CALLBACK_URL,
    Browser,
    audit_events,
    browser,
    new_browser,
    oidc_provider,
    query_of,
    session_store_kind,
    signin_app,
    signin_redis_server,
    signin_settings,
    signin_settings_for,
)

SESSION_COOKIE = "__Host-shipyard_session"
REFRESH_COOKIE = "__Host-shipyard_refresh"
LOGIN_COOKIE = "__Host-shipyard_login"


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    """Set-Cookie headers by cookie name."""
    return {line.split("=", 1)[0]: line for line in response.headers.get_list("set-cookie")}


async def test_sign_in_through_the_provider_starts_a_cookie_session(
    browser: Browser, signin_app: Any, session_store_kind: str
) -> None:
    started = await browser.start()
    assert started.status_code == 302
    assert started.headers["cache-control"] == "no-store"
    login_cookie = _set_cookies(started)[LOGIN_COOKIE]
    for attribute in ("HttpOnly", "Secure", "Path=/", "SameSite=lax"):
        assert attribute in login_cookie

    callback_url = await sign_in_at_provider(browser.idp(), started.headers["location"], login="alice")
    assert callback_url.startswith(CALLBACK_URL)
    finished = await browser.callback(callback_url)

    assert finished.status_code == 303, finished.text
    assert finished.headers["location"] == "/account"
    cookies = _set_cookies(finished)
    assert {SESSION_COOKIE, REFRESH_COOKIE, "__Host-shipyard_csrf"} <= cookies.keys()
    assert "Max-Age=0" in cookies[LOGIN_COOKIE]  # the login secret is spent
    assert browser.http.cookies.get(LOGIN_COOKIE) is None

    me = await browser.http.get("/api/v1/me")  # the session cookie is the credential
    assert me.status_code == 200, me.text
    assert (me.json()["actor_type"], me.json()["role"]) == ("user", "owner")
    assert (await browser.http.get("/api/v1/customers")).status_code == 200

    (event,) = await audit_events(signin_app, audit.LOGIN_SUCCEEDED)
    assert event.details["provider"] == "google"
    assert event.details["summary"].startswith("login via google at ")
    assert event.result == "success"
    assert (event.ip, event.user_agent) == ("127.0.0.1", "python-httpx/" + httpx.__version__)
    assert event.request_id
    assert event.actor_id == me.json()["user_id"]
    assert event.organization_id == me.json()["organization"]["id"]
    async with signin_app.state.database.reader() as session:
        identity = await session.scalar(select(UserIdentity))
    assert identity is not None
    assert (identity.subject, identity.provider, identity.email_verified) == ("alice", "google", True)
    if session_store_kind == "db":
        async with signin_app.state.database.reader() as session:
            stored = await session.scalar(select(AuthSession))
        assert stored is not None
        assert (stored.user_id, stored.provider, stored.remember) == (identity.user_id, "google", False)
        assert stored.id_token_hint  # kept for RP-initiated logout


async def test_authorization_request_carries_pkce_s256_a_nonce_and_the_exact_redirect_uri(
    browser: Browser, oidc_provider: OidcProvider
) -> None:
    first, second = await browser.start(), await browser.start()
    location = first.headers["location"]
    assert location.startswith(oidc_provider.metadata["authorization_endpoint"] + "?")
    params = query_of(location)
    assert params["response_type"] == "code"
    assert params["client_id"] == oidc_provider.client_id
    assert params["redirect_uri"] == CALLBACK_URL
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43  # base64url of a SHA-256
    assert set(params["scope"].split()) == {"openid", "email", "profile"}
    other = query_of(second.headers["location"])
    for name in ("state", "nonce", "code_challenge"):
        assert len(params[name]) >= 43
        assert params[name] != other[name]  # fresh for every attempt


async def test_remember_me_and_return_to_travel_through_the_provider(browser: Browser, signin_app: Any) -> None:
    finished = await browser.sign_in("bob", remember="1", return_to="/account/sessions?tab=all")

    assert finished.status_code == 303, finished.text
    assert finished.headers["location"] == "/account/sessions?tab=all"
    refresh = _set_cookies(finished)[REFRESH_COOKIE]
    assert "Max-Age=" in refresh  # persists for 30 days instead of the browser session
    (event,) = await audit_events(signin_app, audit.LOGIN_SUCCEEDED)
    assert event.details["remember"] is True


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("/account/sessions?tab=all", "/account/sessions?tab=all"),
        (None, "/account"),
        ("", "/account"),
        ("account", "/account"),
        ("https://evil.example/", "/account"),
        ("//evil.example/", "/account"),
        ("/\\evil.example/", "/account"),
        ("/\tevil", "/account"),
        ("/" + "a" * 3000, "/account"),
    ],
)
def test_return_to_must_be_a_path_on_this_site(candidate: str | None, expected: str) -> None:
    assert safe_return_to(candidate) == expected


async def test_a_configured_button_names_the_provider_when_the_idp_does_not(
    settings: Settings, oidc_provider: OidcProvider
) -> None:
    configured = signin_settings_for(settings, oidc_provider, oidc_providers=["github=GitHub", "apple=Apple"])
    app = create_app(configured)
    async with running_lifespan(app):
        person = new_browser(app)
        try:
            configured_button = await person.start(provider="github")
            unknown_button = await person.start(provider="myspace")
            assert query_of(configured_button.headers["location"])["shipyard_source"] == "github"
            assert "shipyard_source" not in query_of(unknown_button.headers["location"])
            # bob's IdP account names no upstream source, so the button's slug is the audit's fallback.
            assert (await person.sign_in("bob", provider="github")).status_code == 303
            assert (await person.sign_in("bob", provider="myspace")).status_code == 303
        finally:
            await person.aclose()
        first, second = await audit_events(app, audit.LOGIN_SUCCEEDED)
    assert first.details["provider"] == "github"
    assert second.details["provider"] is None
    assert second.details["summary"].startswith("login via sign-in at ")


async def test_an_older_tab_can_finish_while_a_newer_one_is_pending(browser: Browser, signin_app: Any) -> None:
    older_tab = await browser.authorize("alice")
    newer_tab = await browser.authorize("bob")

    # The second start kept the browser's login secret, so the older attempt is still this browser's.
    assert (await browser.callback(older_tab)).status_code == 303
    # A finished sign-in clears the login cookie: the other tab must start again (and fails closed).
    refused = await browser.callback(newer_tab)
    assert refused.status_code == 400
    assert refused.json()["reason"] == "login_expired"
    assert len(await audit_events(signin_app, audit.LOGIN_SUCCEEDED)) == 1


async def test_every_sign_in_starts_a_new_session(browser: Browser, signin_app: Any) -> None:
    await browser.sign_in("alice")
    first = browser.http.cookies.get(SESSION_COOKIE)
    await browser.sign_in("alice")
    second = browser.http.cookies.get(SESSION_COOKIE)

    assert first
    assert second
    assert first != second
    events = await audit_events(signin_app, audit.LOGIN_SUCCEEDED)
    assert len({event.target_id for event in events}) == 2  # two session IDs


async def test_sign_in_is_404_when_no_issuer_is_configured(client: httpx.AsyncClient) -> None:
    for path in ("/api/auth/login", "/api/auth/callback?code=x&state=y"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "sign_in_not_configured"


async def test_the_sixth_login_start_in_a_minute_is_429_with_retry_after(
    settings: Settings, oidc_provider: OidcProvider
) -> None:
    app = create_app(signin_settings_for(settings, oidc_provider, auth_rate_limit_per_minute=5))
    async with running_lifespan(app):
        person = new_browser(app)
        try:
            answers = [await person.start() for _ in range(6)]
        finally:
            await person.aclose()
    assert [answer.status_code for answer in answers] == [302] * 5 + [429]
    refused = answers[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= 60


async def test_the_provider_is_unavailable_answers_503(settings: Settings, oidc_provider: OidcProvider) -> None:
    from tests.fixtures.servers import free_port

    dead = signin_settings_for(settings, oidc_provider, oidc_issuer=f"http://127.0.0.1:{free_port()}")
    app = create_app(dead)
    async with running_lifespan(app):
        person = new_browser(app)
        try:
            response = await person.start()
        finally:
            await person.aclose()
        async with app.state.database.reader() as session:
            attempts = await session.scalar(select(func.count()).select_from(AuthSession))
    assert response.status_code == 503
    assert response.json()["code"] == "identity_provider_unavailable"
    assert response.headers["retry-after"] == "30"
    assert attempts == 0


async def test_signing_out_ends_the_session_here_and_at_the_provider(
    browser: Browser, oidc_provider: OidcProvider
) -> None:
    started = await browser.start()
    idp = browser.idp()
    await browser.callback(await sign_in_at_provider(idp, started.headers["location"], login="alice"))
    csrf = browser.http.cookies["__Host-shipyard_csrf"]

    signed_out = await browser.http.post(
        "/api/auth/logout", headers={"X-CSRF-Token": csrf, "Origin": "https://testserver"}
    )

    assert signed_out.status_code == 303, signed_out.text
    end_session = signed_out.headers["location"]
    assert end_session.startswith(oidc_provider.metadata["end_session_endpoint"] + "?")
    assert query_of(end_session)["id_token_hint"].count(".") == 2  # the ID token of this sign-in
    assert (await browser.http.get("/api/v1/me")).status_code == 401
    assert await sign_out_at_provider(idp, end_session) == "https://testserver/"
    # Signed out at the provider too: the next sign-in asks for a login again.
    again = await browser.start()
    assert await sign_in_at_provider(idp, again.headers["location"], login="bob")


async def test_the_id_token_is_not_kept_when_the_provider_has_no_rp_initiated_logout(
    browser: Browser, signin_app: Any
) -> None:
    client = signin_app.state.oidc
    client._metadata = dataclasses.replace(await client.metadata(), end_session_endpoint=None)

    assert (await browser.sign_in("alice")).status_code == 303

    me = (await browser.http.get("/api/v1/me")).json()
    (record,) = await signin_app.state.session_store.list_sessions(me["user_id"])
    assert record.id_token_hint is None
    csrf = browser.http.cookies["__Host-shipyard_csrf"]
    signed_out = await browser.http.post(
        "/api/auth/logout", headers={"X-CSRF-Token": csrf, "Origin": "https://testserver"}
    )
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/")


async def test_the_callback_writes_as_a_writer_so_a_concurrent_write_does_not_break_it(
    browser: Browser, signin_app: Any
) -> None:
    """A GET that writes: on SQLite a reader's deferred transaction fails at its first write when
    another connection committed after it read ("database is locked"); a writer's queues instead."""
    database = signin_app.state.database
    if database.write_engine is database.engine:
        pytest.skip("one engine for readers and writers (PostgreSQL): nothing to tell apart")
    path = database.engine.url.database
    interfered: list[str] = []

    def write_in_between(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        # The moment a reader's session is about to write, another connection commits a write.
        if statement.lstrip().upper().startswith("INSERT") and not interfered:
            interfered.append(statement)
            with contextlib.closing(sqlite3.connect(path, timeout=5)) as other:
                other.execute("PRAGMA user_version = 7")
                other.commit()

    callback_url = await browser.authorize("alice")
    event.listen(database.engine.sync_engine, "before_cursor_execute", write_in_between)
    try:
        finished = await browser.callback(callback_url)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", write_in_between)
    assert finished.status_code == 303, finished.text
    assert interfered == []  # the callback never wrote through the reader's engine
