"""CSRF: a cookie session's state-changing calls need the token and our Origin; bearer calls need neither."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard.auth.sessions.csrf import csrf_token, origin_allowed, origin_of, token_matches
from shipyard.settings import Settings
from tests.auth.conftest import ORIGIN, Browser, open_browser
from tests.fixtures.log_capture import production_logs
from tests.fixtures.tenants import Tenant

CUSTOMER = {"name": "Ada Lovelace", "email": "ada@example.com"}


def _refused(response: Any) -> None:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "csrf_failed"


async def test_a_cookie_session_reads_the_api_without_a_csrf_token(signed_in: Browser) -> None:
    response = await signed_in.http.get("/api/v1/customers")
    assert response.status_code == 200, response.text


async def test_a_cookie_session_writes_with_the_token_and_our_origin(signed_in: Browser) -> None:
    response = await signed_in.http.post("/api/v1/customers", json=CUSTOMER, headers=signed_in.unsafe_headers())
    assert response.status_code == 201, response.text
    listed = await signed_in.http.get("/api/v1/customers")
    assert [customer["email"] for customer in listed.json()["data"]] == ["ada@example.com"]


async def test_a_write_without_the_token_is_refused(signed_in: Browser) -> None:
    _refused(await signed_in.http.post("/api/v1/customers", json=CUSTOMER, headers={"Origin": ORIGIN}))
    assert (await signed_in.http.get("/api/v1/customers")).json()["data"] == []


async def test_a_write_with_a_wrong_token_is_refused(signed_in: Browser) -> None:
    headers = {"Origin": ORIGIN, "X-CSRF-Token": signed_in.csrf[:-2] + "xx"}
    _refused(await signed_in.http.post("/api/v1/customers", json=CUSTOMER, headers=headers))


async def test_another_sessions_token_is_refused(session_app: Any, signed_in: Browser, member: Tenant) -> None:
    other = await open_browser(session_app, member)
    async with other.http:
        headers = {"Origin": ORIGIN, "X-CSRF-Token": other.csrf}
        _refused(await signed_in.http.post("/api/v1/customers", json=CUSTOMER, headers=headers))


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://testserver", "https://testserver.evil.example", "null"]
)
async def test_a_write_from_a_foreign_origin_is_refused(signed_in: Browser, origin: str) -> None:
    headers = {**signed_in.unsafe_headers(), "Origin": origin}
    _refused(await signed_in.http.post("/api/v1/customers", json=CUSTOMER, headers=headers))


async def test_without_origin_the_referer_must_be_ours(signed_in: Browser) -> None:
    token = {"X-CSRF-Token": signed_in.csrf}
    _refused(await signed_in.http.post("/api/v1/customers", json=CUSTOMER, headers=token))
    foreign = {**token, "Referer": "https://evil.example/page"}
    _refused(await signed_in.http.post("/api/v1/customers", json=CUSTOMER, headers=foreign))
    ours = {**token, "Referer": f"{ORIGIN}/account"}
    assert (await signed_in.http.post("/api/v1/customers", json=CUSTOMER, headers=ours)).status_code == 201


async def test_a_bearer_call_needs_no_csrf_token_even_with_session_cookies(signed_in: Browser, member: Tenant) -> None:
    response = await signed_in.http.post("/api/v1/customers", json=CUSTOMER, headers=member.headers)
    assert response.status_code == 201, response.text


async def test_a_refused_write_does_not_burn_its_idempotency_key(signed_in: Browser) -> None:
    key = {"Idempotency-Key": "create-ada-1"}
    _refused(await signed_in.http.post("/api/v1/customers", json=CUSTOMER, headers={**key, "Origin": ORIGIN}))
    response = await signed_in.http.post(
        "/api/v1/customers", json=CUSTOMER, headers={**key, **signed_in.unsafe_headers()}
    )
    assert response.status_code == 201, response.text
    assert "idempotent-replayed" not in response.headers
    replay = await signed_in.http.post(
        "/api/v1/customers", json=CUSTOMER, headers={**key, **signed_in.unsafe_headers()}
    )
    assert replay.status_code == 201
    assert replay.headers["idempotent-replayed"] == "true"


async def test_an_html_form_may_send_the_token_as_a_field(session_app: Any, signed_in: Browser) -> None:
    # /api/v1 takes JSON only; forms post to the browser routes, such as sign-out from the account page.
    form = {"Origin": ORIGIN, "Content-Type": "application/x-www-form-urlencoded"}
    _refused(await signed_in.http.post("/api/auth/logout", content=b"csrf_token=wrong", headers=form))
    assert await session_app.state.session_store.get_session(signed_in.issued.session_id) is not None
    body = f"csrf_token={signed_in.csrf}".encode()
    response = await signed_in.http.post("/api/auth/logout", content=body, headers=form)
    assert response.status_code == 303, response.text
    assert await session_app.state.session_store.get_session(signed_in.issued.session_id) is None


async def test_a_form_token_needs_our_origin_too(signed_in: Browser) -> None:
    body = f"csrf_token={signed_in.csrf}".encode()
    headers = {"Origin": "https://evil.example", "Content-Type": "application/x-www-form-urlencoded"}
    _refused(await signed_in.http.post("/api/auth/logout", content=body, headers=headers))


async def test_a_csrf_refusal_is_logged_for_fail2ban(signed_in: Browser) -> None:
    with production_logs() as logs:
        _refused(await signed_in.http.post("/api/v1/customers", json=CUSTOMER, headers={"Origin": ORIGIN}))
    [event] = logs.events("auth_failed")
    assert event["reason"] == "csrf_failed"
    assert event["session_id"] == signed_in.issued.session_id
    assert signed_in.csrf not in logs.text


def test_origins_compare_scheme_host_and_port() -> None:
    assert origin_of("https://Example.COM/path?q=1") == "https://example.com"
    assert origin_of("https://example.com:443/") == "https://example.com"
    assert origin_of("http://example.com:8080") == "http://example.com:8080"
    assert origin_of("http://[::1]:8000/x") == "http://[::1]:8000"
    for junk in ("null", "", "javascript:alert(1)", "https://", "https://example.com:99999"):
        assert origin_of(junk) is None
    settings = Settings.model_validate({"env": "test", "public_url": "https://app.example.com"})
    assert origin_allowed("https://app.example.com", None, settings)
    assert origin_allowed(None, "https://app.example.com/account", settings)
    assert not origin_allowed("https://evil.example", "https://app.example.com/account", settings)
    assert not origin_allowed(None, None, settings)


def test_the_token_is_bound_to_the_session_and_the_secret_key() -> None:
    one = Settings.model_validate({"env": "test", "secret_key": "k" * 32})
    two = Settings.model_validate({"env": "test", "secret_key": "j" * 32})
    token = csrf_token("ses_a", one)
    assert token_matches(token, "ses_a", one)
    assert not token_matches(token, "ses_b", one)
    assert not token_matches(token, "ses_a", two)
    assert not token_matches("", "ses_a", one)
    assert not token_matches("\u00e9t\u00e9", "ses_a", one)


def test_a_token_made_with_a_previous_key_is_accepted_during_a_rotation() -> None:
    old = Settings.model_validate({"env": "test", "secret_key": "k" * 32})
    rotated = Settings.model_validate({"env": "test", "secret_key": "j" * 32, "secret_key_previous": "k" * 32})
    after = Settings.model_validate({"env": "test", "secret_key": "j" * 32})
    token = csrf_token("ses_a", old)
    assert token_matches(token, "ses_a", rotated)
    assert not token_matches(token, "ses_b", rotated)
    assert csrf_token("ses_a", rotated) == csrf_token("ses_a", after)
    assert not token_matches(token, "ses_a", after)
