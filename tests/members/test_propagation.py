"""A lowered role or a removal reaches sessions and tokens: at once here, within the token cache's TTL elsewhere.

"Elsewhere" is a second app instance on the same database, as a second gunicorn worker would be.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from shipyard.app import create_app
from shipyard.models import Role
from shipyard.settings import Settings
from tests.auth.conftest import Browser
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.tenants import Tenant
from tests.members.conftest import Person, join, signed_in

TTL_S = 1.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"token_cache_ttl_s": TTL_S})


@pytest.fixture
async def elsewhere(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of another process: its own app, its own token cache, the same database."""
    other = create_app(settings)
    async with running_lifespan(other):
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
            yield http


async def _status_within(client: httpx.AsyncClient, path: str, headers: dict[str, str], wanted: int) -> float:
    """Seconds until `path` answers `wanted` (polled every 50 ms, for at most 5 TTLs)."""
    started = time.monotonic()
    while time.monotonic() - started < 5 * TTL_S:
        if (await client.get(path, headers=headers)).status_code == wanted:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    pytest.fail(f"{path} did not answer {wanted} within {5 * TTL_S} s")


async def _warm(elsewhere: httpx.AsyncClient, person: Person) -> None:
    assert (await elsewhere.get("/api/v1/tokens", headers=person.headers)).status_code == 200


async def test_a_demoted_admins_token_loses_the_scopes_here_at_once_and_elsewhere_within_the_ttl(
    app: Any, client: httpx.AsyncClient, elsewhere: httpx.AsyncClient, tenant: Tenant
) -> None:
    admin = await join(app, client, tenant, "ada@example.com", Role.ADMIN)
    assert (await client.get("/api/v1/tokens", headers=admin.headers)).status_code == 200
    await _warm(elsewhere, admin)

    demoted = await client.patch(f"/api/v1/members/{admin.member_id}", json={"role": "member"}, headers=tenant.headers)
    assert demoted.status_code == 200

    here = await client.get("/api/v1/tokens", headers=admin.headers)
    assert here.status_code == 403
    assert here.json()["missing_scopes"] == ["tokens:write"]
    # Still in the role's ceiling: customers stay readable with the same token.
    assert (await client.get("/api/v1/customers", headers=admin.headers)).status_code == 200
    # The other process still holds the cached principal, and drops it within the TTL.
    assert (await elsewhere.get("/api/v1/tokens", headers=admin.headers)).status_code == 200
    assert await _status_within(elsewhere, "/api/v1/tokens", admin.headers, 403) <= TTL_S + 0.5


async def test_a_removed_members_token_is_refused_here_at_once_and_elsewhere_within_the_ttl(
    app: Any, client: httpx.AsyncClient, elsewhere: httpx.AsyncClient, tenant: Tenant
) -> None:
    admin = await join(app, client, tenant, "ada@example.com", Role.ADMIN)
    await _warm(elsewhere, admin)

    removed = await client.delete(f"/api/v1/members/{admin.member_id}", headers=tenant.headers)
    assert removed.status_code == 204

    assert (await client.get("/api/v1/customers", headers=admin.headers)).status_code == 401
    assert await _status_within(elsewhere, "/api/v1/customers", admin.headers, 401) <= TTL_S + 0.5


async def test_a_demoted_members_browser_session_loses_the_scopes_at_once_in_every_process(
    app: Any, client: httpx.AsyncClient, elsewhere: httpx.AsyncClient, tenant: Tenant, browsers: list[Browser]
) -> None:
    admin = await join(app, client, tenant, "ada@example.com", Role.ADMIN)
    browser = await signed_in(app, Tenant(tenant.organization_id, tenant.slug, admin.user_id, "", ""), browsers)
    assert (await browser.http.get("/api/v1/tokens")).status_code == 200
    cookie_header = {"Cookie": "; ".join(f"{c.name}={c.value}" for c in browser.http.cookies.jar)}

    await client.patch(f"/api/v1/members/{admin.member_id}", json={"role": "viewer"}, headers=tenant.headers)

    refused = await browser.http.get("/api/v1/tokens")
    assert refused.status_code == 403
    me = (await browser.http.get("/api/v1/me")).json()
    assert (me["role"], "customers:write" in me["scopes"]) == ("viewer", False)
    assert (await elsewhere.get("/api/v1/tokens", headers=cookie_header)).status_code == 403

    await client.delete(f"/api/v1/members/{admin.member_id}", headers=tenant.headers)
    gone = await browser.http.get("/api/v1/customers")
    assert (gone.status_code, gone.json()["code"]) == (401, "session_expired")


async def test_the_cache_keeps_serving_an_unchanged_member_without_the_database(
    app: Any, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """The control: demoting someone else does not evict (or slow down) another member's cached token."""
    admin = await join(app, client, tenant, "ada@example.com", Role.ADMIN)
    other = await join(app, client, tenant, "bo@example.com", Role.ADMIN)
    await client.get("/api/v1/tokens", headers=other.headers)
    cached = len(app.state.authenticator._cache)

    await client.patch(f"/api/v1/members/{admin.member_id}", json={"role": "member"}, headers=tenant.headers)

    assert (await client.get("/api/v1/tokens", headers=other.headers)).status_code == 200
    assert len(app.state.authenticator._cache) >= cached - 1
