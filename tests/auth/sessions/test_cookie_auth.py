"""The cookie principal: a browser session resolves to the same Principal an API token does, checked live."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shipyard.auth.sessions import cookies
from shipyard.models import Role
from shipyard.models.base import utcnow
from tests.auth.conftest import Browser, new_http, open_browser, put_cookie, start_session
from tests.fixtures.records import remove_member, set_role
from tests.fixtures.tenants import Tenant, add_member

CUSTOMER = {"name": "Ada Lovelace", "email": "ada@example.com"}


def _session_expired(response: Any) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == "session_expired"


async def test_a_session_cookie_resolves_to_the_members_principal(signed_in: Browser, member: Tenant) -> None:
    me = await signed_in.http.get("/api/v1/me")
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["actor_type"] == "user"
    assert body["token_id"] is None
    assert body["user_id"] == member.user_id
    assert body["organization"]["id"] == member.organization_id
    assert body["role"] == "owner"
    assert "tokens:write" in body["scopes"]


async def test_a_viewers_session_carries_only_a_viewers_scopes(session_app: Any, member: Tenant) -> None:
    viewer_id = await add_member(session_app, member, "viewer@acme.example", Role.VIEWER)
    viewer = Tenant(member.organization_id, member.slug, viewer_id, "", "")
    browser = await open_browser(session_app, viewer)
    async with browser.http:
        assert (await browser.http.get("/api/v1/customers")).status_code == 200
        refused = await browser.http.post("/api/v1/customers", json=CUSTOMER, headers=browser.unsafe_headers())
        assert refused.status_code == 403
        assert refused.json()["code"] == "insufficient_scope"


async def test_a_bearer_header_wins_over_the_session_cookie(signed_in: Browser, outsider: Tenant) -> None:
    me = await signed_in.http.get("/api/v1/me", headers=outsider.headers)
    assert me.status_code == 200
    assert me.json()["organization"]["id"] == outsider.organization_id
    assert me.json()["token_id"] == outsider.token_id


async def test_without_any_credential_the_answer_is_unchanged(session_app: Any) -> None:
    async with new_http(session_app) as http:
        response = await http.get("/api/v1/customers")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


async def test_an_expired_access_cookie_answers_session_expired(session_app: Any, member: Tenant) -> None:
    issued = await start_session(session_app, member, now=utcnow() - timedelta(minutes=16))
    settings = session_app.state.settings
    async with new_http(session_app) as http:
        # A browser that kept sending it anyway (a real one drops it at its Max-Age).
        put_cookie(http, cookies.cookie_name(cookies.SESSION, settings), issued.access_token)
        _session_expired(await http.get("/api/v1/customers"))


async def test_a_browser_holding_only_the_refresh_cookie_is_told_to_refresh(session_app: Any, member: Tenant) -> None:
    browser = await open_browser(session_app, member, now=utcnow() - timedelta(minutes=16))
    async with browser.http:
        assert browser.cookie(cookies.SESSION) is None  # its Max-Age lapsed
        assert browser.cookie(cookies.REFRESH) is not None
        _session_expired(await browser.http.get("/api/v1/customers"))


async def test_an_unknown_session_cookie_answers_session_expired(session_app: Any) -> None:
    async with new_http(session_app) as http:
        put_cookie(http, cookies.cookie_name(cookies.SESSION, session_app.state.settings), "forged-or-stale")
        _session_expired(await http.get("/api/v1/customers"))


async def test_a_removed_member_loses_access_at_once(session_app: Any, signed_in: Browser, member: Tenant) -> None:
    assert (await signed_in.http.get("/api/v1/customers")).status_code == 200
    await remove_member(session_app, member.organization_id, member.user_id)
    _session_expired(await signed_in.http.get("/api/v1/customers"))
    # Nor can the session be revived by refreshing it: it was ended.
    _session_expired(await signed_in.http.post("/api/auth/refresh", headers=signed_in.unsafe_headers()))
    assert await session_app.state.session_store.get_session(signed_in.issued.session_id) is None


async def test_a_demoted_member_gets_the_new_roles_scopes_at_once(
    session_app: Any, signed_in: Browser, member: Tenant
) -> None:
    headers = signed_in.unsafe_headers()
    assert (await signed_in.http.post("/api/v1/customers", json=CUSTOMER, headers=headers)).status_code == 201
    await set_role(session_app, member.organization_id, member.user_id, Role.VIEWER)
    refused = await signed_in.http.post("/api/v1/customers", json=CUSTOMER, headers=headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "insufficient_scope"


async def test_last_seen_is_written_at_most_once_a_minute(session_app: Any, member: Tenant) -> None:
    store = session_app.state.session_store
    started = utcnow() - timedelta(minutes=5)
    browser = await open_browser(session_app, member, now=started)
    async with browser.http:
        assert (await browser.http.get("/api/v1/customers")).status_code == 200
        first = await store.get_session(browser.issued.session_id)
        assert first.last_seen_at > started + timedelta(minutes=4)
        assert (await browser.http.get("/api/v1/customers")).status_code == 200
        second = await store.get_session(browser.issued.session_id)
        assert second.last_seen_at == first.last_seen_at


async def test_a_removed_member_cannot_refresh_either(session_app: Any, signed_in: Browser, member: Tenant) -> None:
    await remove_member(session_app, member.organization_id, member.user_id)
    # Straight to the refresh, as a page that only refreshes would do.
    _session_expired(await signed_in.http.post("/api/auth/refresh", headers=signed_in.unsafe_headers()))
    assert await session_app.state.session_store.get_session(signed_in.issued.session_id) is None
