"""Shared helpers for the members tests: people in an organisation, each with a token of their own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from shipyard.auth.csrf import csrf_token
from shipyard.auth.store import NewSession
from shipyard.identity.scopes import ROLE_SCOPES
from shipyard.models import AuditEvent, EmailMessage, Role, User
from shipyard.settings import Settings
from tests.auth.conftest import ORIGIN, Browser, new_http, set_cookie_headers
from tests.fixtures.tenants import Tenant, add_member, create_tenant, issue_token


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Served at https://testserver, so a browser's Secure cookies and Origin pass."""
    return settings.model_copy(update={"public_url": ORIGIN})


@pytest.fixture
async def browsers() -> AsyncIterator[list[Browser]]:
    """Browsers a test opens with `signed_in`, closed at the end."""
    opened: list[Browser] = []
    yield opened
    for browser in opened:
        await browser.http.aclose()


@dataclass
class Person:
    """A member of the tenant's organisation and a token of theirs with every scope their role allows."""

    user_id: str
    member_id: str
    token: str
    token_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def join(app: Any, client: Any, tenant: Tenant, email: str, role: Role) -> Person:
    """Add `email` to the tenant's organisation with `role`, and give them a token."""
    user_id = await add_member(app, tenant, email, role)
    token, token_id = await issue_token(app, tenant, sorted(ROLE_SCOPES[role]), user_id=user_id)
    listed = await client.get("/api/v1/members", params={"limit": 100}, headers=tenant.headers)
    member_id = next(m["id"] for m in listed.json()["data"] if m["user_id"] == user_id)
    return Person(user_id, member_id, token, token_id)


async def owner_member_id(client: Any, tenant: Tenant) -> str:
    listed = await client.get("/api/v1/members", headers=tenant.headers)
    return str(next(m["id"] for m in listed.json()["data"] if m["user_id"] == tenant.user_id))


async def audit_actions(app: Any, organization_id: str) -> list[str]:
    """The organisation's audit actions, oldest first."""
    async with app.state.database.reader() as session:
        query = select(AuditEvent.action).where(AuditEvent.organization_id == organization_id).order_by(AuditEvent.id)
        return list(await session.scalars(query))


async def emails_to(app: Any, address: str) -> list[EmailMessage]:
    """Messages queued for `address`, oldest first."""
    async with app.state.database.reader() as session:
        query = select(EmailMessage).where(EmailMessage.to_address == address).order_by(EmailMessage.id)
        return list(await session.scalars(query))


async def person(app: Any, email: str, *, verified: bool = True) -> Tenant:
    """Someone who signed in before: their own organisation, and a user with `email` (verified or not)."""
    slug = email.split("@")[0]
    tenant = await create_tenant(app, f"{slug} personal", f"{slug}-personal")
    async with app.state.database.writer() as session:
        await session.execute(
            update(User).where(User.id == tenant.user_id).values(email=email, email_verified=verified)
        )
        await session.commit()
    return tenant


@pytest.fixture
async def browsers(app: Any) -> AsyncIterator[list[Browser]]:
    opened: list[Browser] = []
    yield opened
    for browser in opened:
        await browser.http.aclose()


async def signed_in(app: Any, tenant: Tenant, browsers: list[Browser]) -> Browser:
    """A browser signed in as the tenant's owner, in the tenant's organisation."""
    async with app.state.database.writer() as db:
        new = NewSession(tenant.user_id, tenant.organization_id, "google", None, None, remember=False, id_token_hint=None)
        issued = await app.state.session_store.create_session(db, new)
        await db.commit()
    browser = Browser(new_http(app), issued, app.state.settings)
    request = httpx.Request("GET", f"{ORIGIN}/")
    headers = [("set-cookie", line) for line in set_cookie_headers(issued, app.state.settings)]
    browser.http.cookies.extract_cookies(httpx.Response(200, headers=headers, request=request))
    browsers.append(browser)
    return browser


def unsafe(browser: Browser) -> dict[str, str]:
    """What the UI sends with a state-changing call."""
    return {"X-CSRF-Token": csrf_token(browser.issued.session_id, browser.settings), "Origin": ORIGIN}


