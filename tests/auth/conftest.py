"""Session fixtures: the app on either session store (database, or a real redis-server) and a signed-in browser.

Every session test takes `session_app` (or something built on it), which is parametrised over
`store_kind` = "db" and "redis", so each test runs on both stores. A browser is signed in without the
OIDC flow: a user, organisation and membership come from tests/fixtures/tenants.py, the store issues
the session directly, and the cookies reach the client as real `Set-Cookie` headers from
`auth.cookies`. The client talks to https://testserver (so Secure cookies are sent), which is also
the app's `public_url` (so `Origin: https://testserver` passes the CSRF origin check).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
import redis
from starlette.responses import Response

from shipyard.app import create_app
from shipyard.auth.sessions import cookies
from shipyard.auth.sessions.csrf import csrf_token
from shipyard.auth.sessions.store import IssuedSession, NewSession, SessionStore
from shipyard.settings import Settings
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.servers import RedisServer
from tests.fixtures.tenants import Tenant, create_tenant

STORE_KINDS = ("db", "redis")
ORIGIN = "https://testserver"
COOKIE_DOMAIN = "testserver.local"  # where http.cookiejar files cookies for the dotless host "testserver"


@pytest.fixture(scope="session")
def session_redis() -> Iterator[RedisServer]:
    """One redis-server for the session tests; every test starts from empty databases."""
    with RedisServer() as server:
        yield server


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which session store the app uses: "db" or "redis"."""
    return str(request.param)


@pytest.fixture
def session_settings(settings: Settings, store_kind: str, request: pytest.FixtureRequest) -> Settings:
    """Test settings served at https://testserver, with REDIS_URL on the Redis run."""
    updates: dict[str, Any] = {"public_url": ORIGIN}
    if store_kind == "redis":
        server: RedisServer = request.getfixturevalue("session_redis")
        with redis.Redis.from_url(server.url(0)) as client:
            client.flushall()
        updates["redis_url"] = server.url(0)
    return settings.model_copy(update=updates)


@pytest.fixture
async def session_app(session_settings: Settings) -> AsyncIterator[Any]:
    """The app, lifespan running, on the parametrised session store."""
    application = create_app(session_settings)
    async with running_lifespan(application):
        yield application


@pytest.fixture
def session_store(session_app: Any) -> SessionStore:
    """The app's own session store."""
    store: SessionStore = session_app.state.session_store
    return store


@pytest.fixture
async def member(session_app: Any) -> Tenant:
    """An organisation, its owner (who signs in below) and an all-scopes API token of theirs."""
    return await create_tenant(session_app, "Acme", "acme")


@pytest.fixture
async def outsider(session_app: Any) -> Tenant:
    """Another organisation and another person."""
    return await create_tenant(session_app, "Globex", "globex")


async def start_session(
    app: Any, tenant: Tenant, *, remember: bool = False, now: datetime | None = None, user_agent: str = "pytest"
) -> IssuedSession:
    """What the login callback does once the provider vouched for the person: a new session, committed."""
    async with app.state.database.writer() as db:
        issued = await app.state.session_store.create_session(
            db,
            NewSession(
                user_id=tenant.user_id,
                organization_id=tenant.organization_id,
                provider="google",
                ip="203.0.113.9",
                user_agent=user_agent,
                remember=remember,
                id_token_hint=None,
            ),
            now=now,
        )
        await db.commit()
    return issued


def set_cookie_headers(issued: IssuedSession, settings: Settings) -> list[str]:
    """The `Set-Cookie` headers `auth.cookies` sends for a session."""
    response = Response()
    cookies.set_session_cookies(response, issued, settings)
    return [value.decode("latin-1") for name, value in response.raw_headers if name == b"set-cookie"]


def new_http(app: Any) -> httpx.AsyncClient:
    """A cookie-keeping client for https://testserver."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN)


def put_cookie(http: httpx.AsyncClient, name: str, value: str) -> None:
    """Plant a cookie as a browser would hold it (also one whose Max-Age a real browser let lapse)."""
    http.cookies.set(name, value, domain=COOKIE_DOMAIN, path="/")


@dataclass
class Browser:
    """A client holding a session's cookies."""

    http: httpx.AsyncClient
    issued: IssuedSession
    settings: Settings

    @property
    def csrf(self) -> str:
        """The session's CSRF token, as the page reads it from the CSRF cookie."""
        return csrf_token(self.issued.session_id, self.settings)

    def unsafe_headers(self) -> dict[str, str]:
        """What our own page's `fetch` sends with a state-changing request."""
        return {"X-CSRF-Token": self.csrf, "Origin": ORIGIN}

    def receive(self, issued: IssuedSession) -> None:
        """Store the cookies for `issued` exactly as the server would set them."""
        self.issued = issued
        request = httpx.Request("GET", f"{ORIGIN}/")
        headers = [("set-cookie", line) for line in set_cookie_headers(issued, self.settings)]
        self.http.cookies.extract_cookies(httpx.Response(200, headers=headers, request=request))

    def cookie(self, base: str) -> str | None:
        """The value the client holds for cookie `base` (e.g. cookies.REFRESH)."""
        return self.http.cookies.get(cookies.cookie_name(base, self.settings))


async def open_browser(app: Any, tenant: Tenant, **session: Any) -> Browser:
    """A new client signed in as `tenant`'s owner."""
    issued = await start_session(app, tenant, **session)
    browser = Browser(new_http(app), issued, app.state.settings)
    browser.receive(issued)
    return browser


@pytest.fixture
async def signed_in(session_app: Any, member: Tenant) -> AsyncIterator[Browser]:
    """A browser signed in as the member's owner."""
    browser = await open_browser(session_app, member)
    async with browser.http:
        yield browser
