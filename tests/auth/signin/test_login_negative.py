"""Every way a sign-in can go wrong fails closed: a `login_failed` problem, an audit event, nobody signed in."""

# ruff: noqa: F811 - test parameters name the pytest fixtures imported from tests/fixtures/signin.py

from __future__ import annotations

import dataclasses
import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import func, select

from shipyard.auth import audit
from shipyard.models import User
from tests.fixtures.log_capture import production_logs
from tests.fixtures.oidc import OidcProvider, cancel_at_provider
from tests.fixtures.oidc_tamper import TamperMode
from tests.fixtures.servers import free_port
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
)

LOGIN_COOKIE = "__Host-shipyard_login"


def _with(url: str, **params: str) -> str:
    """`url` (a callback) with some query parameters replaced."""
    return f"{CALLBACK_URL}?{urlencode({**query_of(url), **params})}"


async def _assert_refused(
    response: httpx.Response, browser: Browser, app: Any, reason: str, *, check: str | None = None
) -> None:
    """A 400 `login_failed` problem with `reason`, its audit event, and no session anywhere."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert (problem["code"], problem["reason"]) == ("login_failed", reason)
    assert "eyJ" not in response.text  # no token content leaks into the problem
    assert not [line for line in response.headers.get_list("set-cookie") if "shipyard_session" in line]
    (event,) = await audit_events(app, audit.LOGIN_FAILED)
    assert (event.result, event.details["reason"], event.actor_id) == ("failure", reason, None)
    if check is not None:
        assert event.details["check"] == check
    assert (await browser.http.get("/api/v1/customers")).status_code == 401
    assert await audit_events(app, audit.LOGIN_SUCCEEDED) == []
    async with app.state.database.reader() as session:
        assert await session.scalar(select(func.count()).select_from(User)) == 0


async def test_a_state_nobody_issued_is_refused(browser: Browser, signin_app: Any) -> None:
    callback = await browser.authorize("alice")
    response = await browser.callback(_with(callback, state=secrets.token_urlsafe(32)))
    await _assert_refused(response, browser, signin_app, "state_mismatch", check="state")


async def test_a_callback_without_state_is_refused(browser: Browser, signin_app: Any) -> None:
    callback = await browser.authorize("alice")
    response = await browser.callback(f"{CALLBACK_URL}?code={query_of(callback)['code']}")
    await _assert_refused(response, browser, signin_app, "state_mismatch", check="state")


async def test_a_callback_in_another_browser_is_refused_and_spends_the_state(browser: Browser, signin_app: Any) -> None:
    callback = await browser.authorize("alice")
    stranger = new_browser(signin_app)
    try:
        refused = await stranger.callback(callback)
        await _assert_refused(refused, stranger, signin_app, "login_expired", check="login_cookie")
    finally:
        await stranger.aclose()

    # The state was consumed by that attempt: the rightful browser cannot finish with it either.
    late = await browser.callback(callback)
    assert late.status_code == 400
    assert late.json()["reason"] == "state_mismatch"


async def test_a_callback_in_a_browser_with_its_own_login_is_refused(browser: Browser, signin_app: Any) -> None:
    callback = await browser.authorize("alice")
    attacker = new_browser(signin_app)
    try:
        await attacker.start()  # a login cookie of its own
        assert attacker.http.cookies.get(LOGIN_COOKIE)
        refused = await attacker.callback(callback)
    finally:
        await attacker.aclose()
    await _assert_refused(refused, browser, signin_app, "state_mismatch", check="state")


async def test_a_replayed_callback_is_refused(browser: Browser, signin_app: Any) -> None:
    callback = await browser.authorize("alice")
    assert (await browser.callback(callback)).status_code == 303
    browser.http.cookies.clear()

    replayed = await browser.callback(callback)

    assert replayed.status_code == 400
    assert replayed.json()["reason"] in {"login_expired", "state_mismatch"}
    (event,) = await audit_events(signin_app, audit.LOGIN_FAILED)
    assert event.details["reason"] == replayed.json()["reason"]


async def test_a_used_code_with_a_fresh_state_is_refused_by_the_provider(browser: Browser, signin_app: Any) -> None:
    used = await browser.authorize("alice")
    assert (await browser.callback(used)).status_code == 303
    browser.http.cookies.clear()
    fresh = await browser.start()  # a new state (and PKCE verifier) for this browser
    state = query_of(fresh.headers["location"])["state"]

    replayed = await browser.callback(_with(used, state=state))

    assert replayed.status_code == 400
    assert replayed.json()["reason"] == "code_exchange_failed"
    (event,) = await audit_events(signin_app, audit.LOGIN_FAILED)
    assert event.details["check"] == "invalid_grant"


async def test_the_provider_refuses_a_code_without_its_pkce_verifier(
    browser: Browser, oidc_provider: OidcProvider
) -> None:
    callback = query_of(await browser.authorize("alice"))
    async with httpx.AsyncClient(timeout=30) as thief:
        stolen = await thief.post(
            oidc_provider.metadata["token_endpoint"],
            data={"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": CALLBACK_URL},
            auth=(oidc_provider.client_id, oidc_provider.client_secret),
        )
    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    assert "id_token" not in stolen.text


async def _rewrite_attempt(app: Any, browser: Browser, callback: str, **changes: Any) -> None:
    """Replace what the store remembers for the callback's login attempt (as a corrupted store would)."""
    store = app.state.session_store
    state, secret = query_of(callback)["state"], browser.http.cookies[LOGIN_COOKIE]
    data = await store.take_login_attempt(state, secret)
    assert data is not None
    data.update(changes)
    await store.save_login_attempt(state, secret, {k: v for k, v in data.items() if v is not None}, 600)


async def test_an_attempt_that_lost_its_pkce_verifier_is_refused_before_any_exchange(
    browser: Browser, signin_app: Any
) -> None:
    callback = await browser.authorize("alice")
    await _rewrite_attempt(signin_app, browser, callback, code_verifier=None)

    response = await browser.callback(callback)

    await _assert_refused(response, browser, signin_app, "invalid_login_attempt")


async def test_a_code_exchanged_with_another_pkce_verifier_is_refused(browser: Browser, signin_app: Any) -> None:
    callback = await browser.authorize("alice")
    await _rewrite_attempt(signin_app, browser, callback, code_verifier=secrets.token_urlsafe(48))

    response = await browser.callback(callback)

    await _assert_refused(response, browser, signin_app, "code_exchange_failed", check="invalid_grant")


@pytest.mark.parametrize(
    ("mode", "reason", "check"),
    [
        ("wrong_aud", "invalid_id_token", "aud"),
        ("wrong_aud_azp_ours", "invalid_id_token", "aud"),
        ("azp_mismatch_with_multiple_aud", "invalid_id_token", "azp"),
        ("wrong_iss", "invalid_id_token", "iss"),
        ("expired", "invalid_id_token", "exp"),
        ("nonce_mismatch", "nonce_mismatch", "nonce"),
        ("alg_none", "invalid_id_token", "alg"),
        ("hs256_client_secret", "invalid_id_token", "alg"),
        ("other_key", "invalid_id_token", "signature"),
        ("unknown_kid", "invalid_id_token", "kid"),
        ("userinfo_sub_mismatch", "userinfo_mismatch", "sub"),
    ],
)
async def test_a_misbehaving_provider_is_refused(
    browser: Browser, signin_app: Any, oidc_provider: OidcProvider, mode: TamperMode, reason: str, check: str
) -> None:
    callback = await browser.authorize("alice")
    with oidc_provider.tamper(mode) as tampering:
        response = await browser.callback(callback)
    assert tampering.applied == 1
    await _assert_refused(response, browser, signin_app, reason, check=check)


async def test_a_cancelled_sign_in_is_refused_as_a_provider_error(browser: Browser, signin_app: Any) -> None:
    started = await browser.start()
    callback = await cancel_at_provider(browser.idp(), started.headers["location"])
    assert query_of(callback)["error"] == "access_denied"

    response = await browser.callback(callback)

    await _assert_refused(response, browser, signin_app, "provider_error", check="access_denied")


async def test_an_answer_naming_another_issuer_is_refused(browser: Browser, signin_app: Any) -> None:
    callback = await browser.authorize("alice")
    assert query_of(callback)["iss"]  # oidc-provider sends RFC 9207's iss

    response = await browser.callback(_with(callback, iss="https://evil.example"))

    await _assert_refused(response, browser, signin_app, "issuer_mismatch", check="iss")


async def test_an_answer_without_iss_is_refused_when_the_provider_promises_it(
    browser: Browser, signin_app: Any
) -> None:
    assert (await signin_app.state.oidc.metadata()).iss_parameter_supported  # oidc-provider advertises RFC 9207
    callback = await browser.authorize("alice")
    without_iss = f"{CALLBACK_URL}?{urlencode({k: v for k, v in query_of(callback).items() if k != 'iss'})}"

    response = await browser.callback(without_iss)

    await _assert_refused(response, browser, signin_app, "issuer_mismatch", check="iss_missing")


async def test_an_answer_without_iss_is_accepted_from_a_provider_that_does_not_promise_it(
    browser: Browser, signin_app: Any
) -> None:
    client = signin_app.state.oidc
    client._metadata = dataclasses.replace(await client.metadata(), iss_parameter_supported=False)
    callback = await browser.authorize("alice")
    without_iss = f"{CALLBACK_URL}?{urlencode({k: v for k, v in query_of(callback).items() if k != 'iss'})}"

    assert (await browser.callback(without_iss)).status_code == 303


async def test_a_refused_callback_clears_the_login_cookie_and_is_not_cached(browser: Browser) -> None:
    callback = await browser.authorize("alice")
    assert browser.http.cookies.get(LOGIN_COOKIE)

    response = await browser.callback(_with(callback, iss="https://evil.example"))

    assert response.status_code == 400
    assert response.headers["cache-control"] == "no-store"
    (cleared,) = [line for line in response.headers.get_list("set-cookie") if line.startswith(f"{LOGIN_COOKIE}=")]
    assert "max-age=0" in cleared.lower()
    assert browser.http.cookies.get(LOGIN_COOKIE) is None


async def test_the_callback_is_rate_limited(browser: Browser, signin_app: Any) -> None:
    signin_app.state.settings.auth_rate_limit_per_minute = 2
    answers = [await browser.callback(f"{CALLBACK_URL}?state=x&code=y") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [400, 400, 429]
    assert answers[-1].json()["code"] == "rate_limited"
    assert urlsplit(CALLBACK_URL).path == "/api/auth/callback"


async def test_a_refusal_logs_one_auth_failed_event_for_fail2ban(browser: Browser, oidc_provider: OidcProvider) -> None:
    callback = await browser.authorize("alice")
    with production_logs() as logs, oidc_provider.tamper("wrong_aud"):
        response = await browser.callback(callback)

    assert response.status_code == 400
    (event,) = logs.events("auth_failed")
    assert (event["reason"], event["client_ip"], event["check"]) == ("invalid_id_token", "127.0.0.1", "aud")
    assert event["provider"] is None
    assert "eyJ" not in logs.text  # no token reaches the log


async def test_a_token_endpoint_outage_is_503_and_not_blamed_on_the_client(browser: Browser, signin_app: Any) -> None:
    callback = await browser.authorize("alice")
    client = signin_app.state.oidc
    client._metadata = dataclasses.replace(client._metadata, token_endpoint=f"http://127.0.0.1:{free_port()}/token")

    with production_logs() as logs:
        response = await browser.callback(callback)

    assert response.status_code == 503
    assert (response.json()["code"], response.json()["reason"]) == (
        "identity_provider_unavailable",
        "provider_unavailable",
    )
    assert response.headers["retry-after"] == "30"
    (event,) = await audit_events(signin_app, audit.LOGIN_FAILED)
    assert event.details["reason"] == "provider_unavailable"
    assert logs.events("auth_failed") == []
