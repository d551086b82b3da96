"""The server-rendered pages: sign-in buttons, the account page, its refresh and its forms (both stores)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shipyard.auth.sessions import cookies
from shipyard.models import AuditEvent
from shipyard.settings import Settings
from tests.auth.conftest import ORIGIN, Browser, new_http, open_browser
from tests.fixtures.tenants import Tenant


async def test_a_stranger_is_sent_from_the_account_page_to_sign_in(session_app: Any) -> None:
    async with new_http(session_app) as http:
        response = await http.get("/account")
        assert (response.status_code, response.headers["location"]) == (303, "/login")
        page = await http.get("/login")
    assert page.status_code == 200
    # Sign-in is not configured in these settings: the page says how to configure it, and offers no button.
    assert "SHIPYARD_OIDC_ISSUER" in page.text
    assert "make idp" in page.text  # the command the README teaches, not the script behind it
    assert "/api/auth/login" not in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy


async def test_the_login_page_shows_one_button_per_configured_provider(session_settings: Settings) -> None:
    settings = session_settings.model_copy(
        update={
            "oidc_issuer": "https://auth.example.com/application/o/shipyard/",
            "oidc_client_id": "shipyard",
            "oidc_providers": ["google=Google", "github=GitHub", "entraid=Microsoft", "apple=Apple"],
        }
    )
    from shipyard.app import create_app
    from tests.fixtures.lifespan import running_lifespan

    app = create_app(settings)
    async with running_lifespan(app), new_http(app) as http:
        page = await http.get("/login")
    for slug, label in [("google", "Google"), ("github", "GitHub"), ("entraid", "Microsoft"), ("apple", "Apple")]:
        assert f'value="{slug}"' in page.text
        assert f"Continue with {label}" in page.text
    # Forms may lead to the provider (sign-in redirects there), and nowhere else.
    assert "form-action 'self' https://auth.example.com;" in page.headers["content-security-policy"]


async def test_the_account_page_shows_the_person_their_sessions_and_a_csrf_token(
    signed_in: Browser, member: Tenant
) -> None:
    response = await signed_in.http.get("/account")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert member.user_id in response.text
    assert "this browser" in response.text
    assert f'name="csrf_token" value="{signed_in.csrf}"' in response.text


async def test_with_only_a_refresh_cookie_the_account_page_rotates_it_and_comes_back(
    session_app: Any, member: Tenant
) -> None:
    browser = await open_browser(session_app, member)
    async with browser.http:
        old_refresh = browser.cookie(cookies.REFRESH)
        # The browser let the 15-minute access cookie lapse; the refresh cookie remains.
        browser.http.cookies.delete(cookies.cookie_name(cookies.SESSION, browser.settings))
        response = await browser.http.get("/account")
        assert (response.status_code, response.headers["location"]) == (303, "/account")
        assert browser.cookie(cookies.REFRESH) not in {None, old_refresh}
        assert (await browser.http.get("/account")).status_code == 200
    async with session_app.state.database.reader() as db:
        actions = list(await db.scalars(select(AuditEvent.action).where(AuditEvent.actor_id == member.user_id)))
    assert "session.refreshed" in actions


async def test_a_reused_refresh_cookie_on_the_account_page_ends_the_session_and_asks_to_sign_in(
    session_app: Any, member: Tenant
) -> None:
    browser = await open_browser(session_app, member)
    async with browser.http:
        stolen = browser.cookie(cookies.REFRESH)
        browser.http.cookies.delete(cookies.cookie_name(cookies.SESSION, browser.settings))
        assert (await browser.http.get("/account")).headers["location"] == "/account"  # rotated once
        async with new_http(session_app) as thief:
            thief.cookies.set(cookies.cookie_name(cookies.REFRESH, browser.settings), stolen or "", path="/")
            response = await thief.get("/account")
        assert (response.status_code, response.headers["location"]) == (303, "/login")
        # The whole family is gone: the legitimate browser is signed out too.
        assert (await browser.http.get("/account")).headers["location"] == "/login"


async def test_revoking_another_session_from_the_account_page_needs_the_csrf_token(
    session_app: Any, member: Tenant, signed_in: Browser
) -> None:
    other = await open_browser(session_app, member, user_agent="the other laptop")
    async with other.http:
        path = f"/account/sessions/{other.issued.session_id}/revoke"
        refused = await signed_in.http.post(path, data={"csrf_token": "forged"}, headers={"Origin": ORIGIN})
        assert refused.status_code == 403
        assert refused.json()["code"] == "csrf_failed"
        assert (await other.http.get("/account")).status_code == 200
        done = await signed_in.http.post(path, data={"csrf_token": signed_in.csrf}, headers={"Origin": ORIGIN})
        assert (done.status_code, done.headers["location"]) == (303, "/account")
        assert (await other.http.get("/account")).headers["location"] == "/login"


async def test_nobody_can_revoke_a_session_of_someone_else(
    session_app: Any, outsider: Tenant, signed_in: Browser
) -> None:
    victim = await open_browser(session_app, outsider)
    async with victim.http:
        path = f"/account/sessions/{victim.issued.session_id}/revoke"
        response = await signed_in.http.post(path, data={"csrf_token": signed_in.csrf}, headers={"Origin": ORIGIN})
        assert response.status_code == 404
        assert (await victim.http.get("/account")).status_code == 200
