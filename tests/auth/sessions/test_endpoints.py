"""Refresh, sign-out, and the person's sessions over HTTP, on both stores."""

# ruff: noqa: F811 - test parameters name the pytest fixtures imported from tests/fixtures/signin.py

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from shipyard.auth import audit
from shipyard.auth.sessions import cookies
from shipyard.auth.sessions.store import IssuedSession
from shipyard.models.base import utcnow
from tests.auth.conftest import ORIGIN, Browser, new_http, open_browser, start_session
from tests.fixtures.log_capture import production_logs
from tests.fixtures.oidc import OidcProvider
from tests.fixtures.records import audit_events
from tests.fixtures.signin import Browser as SignInBrowser
from tests.fixtures.signin import (  # noqa: F401 - fixtures: a real sign-in through the test provider
    browser,
    oidc_provider,
    query_of,
    session_store_kind,
    signin_app,
    signin_redis_server,
    signin_settings,
)
from tests.fixtures.tenants import Tenant, issue_token


def _code(response: Any) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return str(response.json()["code"])


def _cleared(response: Any, settings: Any) -> set[str]:
    """Names of the cookies the response expires."""
    return {
        line.split("=", 1)[0]
        for line in response.headers.get_list("set-cookie")
        if "max-age=0" in line.lower()
        and line.split("=", 1)[0]
        in {cookies.cookie_name(base, settings) for base in (cookies.SESSION, cookies.REFRESH, cookies.CSRF)}
    }


async def _copy(app: Any, person: Browser, issued: IssuedSession | None = None) -> Browser:
    """A second client holding the same cookies (the thief's copy, or another tab)."""
    copy = Browser(new_http(app), person.issued, person.settings)
    copy.receive(issued or person.issued)
    return copy


async def _refresh(person: Browser) -> Any:
    return await person.http.post("/api/auth/refresh", headers=person.unsafe_headers())


# --- refresh -------------------------------------------------------------------------------------


async def test_refresh_rotates_both_tokens_and_the_old_access_stops_working(
    session_app: Any, signed_in: Browser, member: Tenant
) -> None:
    stale = await _copy(session_app, signed_in)
    old_access, old_refresh = signed_in.cookie(cookies.SESSION), signed_in.cookie(cookies.REFRESH)

    response = await _refresh(signed_in)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["session_id"] == signed_in.issued.session_id
    assert set(body) == {"session_id", "access_expires_at", "refresh_expires_at"}  # tokens only in cookies
    new_access, new_refresh = signed_in.cookie(cookies.SESSION), signed_in.cookie(cookies.REFRESH)
    assert new_access not in {None, old_access}
    assert new_refresh not in {None, old_refresh}
    for line in response.headers.get_list("set-cookie"):
        assert line.startswith("__Host-")
        assert "secure" in line.lower()
        assert "samesite=lax" in line.lower()
    assert (await signed_in.http.get("/api/v1/customers")).status_code == 200
    async with stale.http:
        assert _code(await stale.http.get("/api/v1/customers")) == "session_expired"
    [event] = await audit_events(session_app, action=audit.SESSION_REFRESHED)
    assert event.target_id == signed_in.issued.session_id
    assert event.actor_id == member.user_id


async def test_refresh_needs_the_csrf_token(signed_in: Browser) -> None:
    refused = await signed_in.http.post("/api/auth/refresh", headers={"Origin": ORIGIN})
    assert refused.status_code == 403
    assert _code(refused) == "csrf_failed"
    foreign = await signed_in.http.post(
        "/api/auth/refresh", headers={**signed_in.unsafe_headers(), "Origin": "https://evil.example"}
    )
    assert _code(foreign) == "csrf_failed"
    # Nothing rotated: the tokens the person holds still work and still refresh.
    assert (await signed_in.http.get("/api/v1/customers")).status_code == 200
    assert (await _refresh(signed_in)).status_code == 200


async def test_reusing_a_rotated_refresh_token_ends_the_session_and_is_audited(
    session_app: Any, signed_in: Browser
) -> None:
    thief = await _copy(session_app, signed_in)
    assert (await _refresh(signed_in)).status_code == 200

    with production_logs() as logs:
        reused = await _refresh(thief)

    assert reused.status_code == 401
    assert _code(reused) == "refresh_token_reused"
    assert _cleared(reused, signed_in.settings) == {
        cookies.cookie_name(base, signed_in.settings) for base in (cookies.SESSION, cookies.REFRESH, cookies.CSRF)
    }
    # The legitimate person's brand-new tokens die with the family, at once.
    assert _code(await signed_in.http.get("/api/v1/customers")) == "session_expired"
    assert _code(await _refresh(signed_in)) == "session_expired"
    [event] = await audit_events(session_app, action=audit.REFRESH_REUSE_DETECTED)
    assert event.action == "session.refresh_reuse_detected"
    assert event.result == "failure"
    assert event.target_id == signed_in.issued.session_id
    assert event.organization_id is not None
    [failure] = logs.events("auth_failed")
    assert failure["reason"] == "refresh_reuse_detected"
    await thief.http.aclose()


async def test_of_two_concurrent_refreshes_with_one_token_exactly_one_succeeds(
    session_app: Any, signed_in: Browser
) -> None:
    tab = await _copy(session_app, signed_in)
    async with tab.http:
        responses = await asyncio.gather(_refresh(signed_in), _refresh(tab))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 401], [response.text for response in responses]
    assert _code(next(r for r in responses if r.status_code == 401)) == "refresh_token_reused"


async def test_after_the_access_cookie_lapses_a_refresh_restores_access(session_app: Any, member: Tenant) -> None:
    person = await open_browser(session_app, member, now=utcnow() - timedelta(minutes=16))
    async with person.http:
        assert _code(await person.http.get("/api/v1/customers")) == "session_expired"
        assert (await _refresh(person)).status_code == 200
        assert (await person.http.get("/api/v1/customers")).status_code == 200


async def test_an_expired_session_cannot_be_refreshed(session_app: Any, member: Tenant) -> None:
    issued = await start_session(session_app, member, now=utcnow() - timedelta(hours=25))
    settings = session_app.state.settings
    person = Browser(new_http(session_app), issued, settings)
    async with person.http:
        person.http.cookies.set(
            cookies.cookie_name(cookies.REFRESH, settings), issued.refresh_token, "testserver.local"
        )
        response = await _refresh(person)
        assert response.status_code == 401
        assert _code(response) == "session_expired"
        assert cookies.cookie_name(cookies.REFRESH, settings) in _cleared(response, settings)


async def test_refresh_without_any_session_is_refused(session_app: Any) -> None:
    async with new_http(session_app) as http:
        response = await http.post("/api/auth/refresh", headers={"Origin": ORIGIN})
    assert response.status_code == 401
    assert _code(response) == "session_expired"


# --- sign-out ------------------------------------------------------------------------------------


async def test_sign_out_ends_the_session_server_side(session_app: Any, signed_in: Browser) -> None:
    kept = await _copy(session_app, signed_in)  # cookies a person (or a thief) kept after signing out

    response = await signed_in.http.post("/api/auth/logout", headers=signed_in.unsafe_headers())

    assert response.status_code == 303
    assert response.headers["location"] == "/"  # sign-in is not configured: no provider to sign out of
    assert len(_cleared(response, signed_in.settings)) == 3
    assert signed_in.cookie(cookies.SESSION) is None
    async with kept.http:
        assert _code(await kept.http.get("/api/v1/customers")) == "session_expired"
        assert _code(await _refresh(kept)) == "session_expired"
    [event] = await audit_events(session_app, action=audit.LOGOUT)
    assert event.target_id == signed_in.issued.session_id
    assert await session_app.state.session_store.get_session(signed_in.issued.session_id) is None


async def test_sign_out_after_a_real_sign_in_also_signs_out_at_the_provider(
    browser: SignInBrowser, oidc_provider: OidcProvider
) -> None:
    assert (await browser.sign_in("alice")).status_code == 303
    csrf = browser.http.cookies.get(cookies.cookie_name(cookies.CSRF, browser.app.state.settings))
    assert csrf

    response = await browser.http.post("/api/auth/logout", headers={"X-CSRF-Token": csrf, "Origin": ORIGIN})

    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(oidc_provider.metadata["end_session_endpoint"] + "?")
    params = query_of(location)
    assert params["post_logout_redirect_uri"] == f"{ORIGIN}/"
    assert params["id_token_hint"].count(".") == 2  # the ID token of this sign-in
    assert _code(await browser.http.get("/api/v1/customers")) == "unauthenticated"  # cookies gone


async def test_sign_out_without_the_csrf_token_is_refused(signed_in: Browser) -> None:
    response = await signed_in.http.post("/api/auth/logout", headers={"Origin": ORIGIN})
    assert response.status_code == 403
    assert _code(response) == "csrf_failed"
    assert (await signed_in.http.get("/api/v1/customers")).status_code == 200


async def test_sign_out_without_a_session_just_goes_home(session_app: Any) -> None:
    async with new_http(session_app) as http:
        response = await http.post("/api/auth/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert await audit_events(session_app, action=audit.LOGOUT) == []


# --- my sessions ---------------------------------------------------------------------------------


async def test_my_sessions_are_listed_with_the_current_one_marked(
    session_app: Any, signed_in: Browser, member: Tenant, outsider: Tenant
) -> None:
    laptop = await start_session(session_app, member, user_agent="laptop", remember=True)
    await start_session(session_app, outsider)
    response = await signed_in.http.get("/api/v1/me/sessions")
    assert response.status_code == 200, response.text
    listed = response.json()["data"]
    assert [entry["id"] for entry in listed] == [laptop.session_id, signed_in.issued.session_id]
    assert [entry["current"] for entry in listed] == [False, True]
    assert listed[0]["user_agent"] == "laptop"
    assert listed[0]["remember"] is True
    assert set(listed[0]) == {
        "id",
        "current",
        "provider",
        "ip",
        "user_agent",
        "remember",
        "created_at",
        "last_seen_at",
        "expires_at",
    }


async def test_revoking_another_session_of_mine_ends_it_at_once(
    session_app: Any, signed_in: Browser, member: Tenant
) -> None:
    laptop = await open_browser(session_app, member)
    async with laptop.http:
        assert (await laptop.http.get("/api/v1/customers")).status_code == 200
        response = await signed_in.http.delete(
            f"/api/v1/me/sessions/{laptop.issued.session_id}", headers=signed_in.unsafe_headers()
        )
        assert response.status_code == 204, response.text
        assert _code(await laptop.http.get("/api/v1/customers")) == "session_expired"
        assert _code(await _refresh(laptop)) == "session_expired"
    assert (await signed_in.http.get("/api/v1/customers")).status_code == 200
    [event] = await audit_events(session_app, action=audit.SESSION_REVOKED)
    assert event.target_id == laptop.issued.session_id
    assert event.actor_id == member.user_id


async def test_i_cannot_revoke_another_persons_session(session_app: Any, signed_in: Browser, outsider: Tenant) -> None:
    theirs = await start_session(session_app, outsider)
    for session_id in (theirs.session_id, "ses_01JNOSUCHSESSION000000000"):
        response = await signed_in.http.delete(f"/api/v1/me/sessions/{session_id}", headers=signed_in.unsafe_headers())
        assert response.status_code == 404
        assert _code(response) == "resource_not_found"
    assert await session_app.state.session_store.get_session(theirs.session_id) is not None


async def test_revoking_a_session_with_an_api_token_needs_tokens_write(
    session_app: Any, signed_in: Browser, member: Tenant
) -> None:
    url = f"/api/v1/me/sessions/{signed_in.issued.session_id}"
    reader, _ = await issue_token(session_app, member, ["customers:read"])
    async with new_http(session_app) as http:
        refused = await http.delete(url, headers={"Authorization": f"Bearer {reader}"})
        assert refused.status_code == 403
        assert _code(refused) == "insufficient_scope"
        listed = await http.get("/api/v1/me/sessions", headers={"Authorization": f"Bearer {reader}"})
        assert [entry["current"] for entry in listed.json()["data"]] == [False]
        assert (await http.delete(url, headers=member.headers)).status_code == 204
    assert _code(await signed_in.http.get("/api/v1/customers")) == "session_expired"


async def test_me_shows_the_profile_identities_organisations_and_csrf_token(signed_in: Browser, member: Tenant) -> None:
    response = await signed_in.http.get("/api/v1/me")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["profile"]["id"] == member.user_id
    assert body["profile"]["email"] == "owner@acme.example"
    assert body["identities"] == []
    assert body["organizations"] == [{"id": member.organization_id, "slug": "acme", "name": "Acme", "role": "owner"}]
    assert body["session_id"] == signed_in.issued.session_id
    assert body["csrf_token"] == signed_in.csrf == signed_in.cookie(cookies.CSRF)


async def test_the_session_routes_are_documented_with_problem_responses(session_app: Any) -> None:
    async with new_http(session_app) as http:
        schema = (await http.get("/openapi.json")).json()
    paths = schema["paths"]
    assert not any(path.startswith("/api/auth/") for path in paths)
    listing = paths["/api/v1/me/sessions"]["get"]
    revoke = paths["/api/v1/me/sessions/{session_id}"]["delete"]
    assert "401" in listing["responses"]
    for status in ("401", "403", "404"):
        content = revoke["responses"][status]["content"]
        assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert "SessionList" in schema["components"]["schemas"]
