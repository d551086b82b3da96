"""The token lifecycle over HTTP: create (secret once), list, read, revoke, and `/me`."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shipyard.identity import token_format
from tests.fixtures.records import every_stored_value, set_token_columns, token_row
from tests.fixtures.tenants import Tenant, issue_token

PROBLEM = "application/problem+json"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _create(client: httpx.AsyncClient, tenant: Tenant, **body: Any) -> httpx.Response:
    payload = {"name": "agent", "scopes": ["customers:read"], **body}
    return await client.post("/api/v1/tokens", json=payload, headers=tenant.headers)


def _assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == "invalid_token"


async def test_created_token_shows_its_secret_once_and_works(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await _create(client, tenant, name="billing agent", scopes=["invoices:read", "customers:read"])
    assert created.status_code == 201, created.text
    body = created.json()
    secret = body["token"]
    assert token_format.is_well_formed(secret)
    assert body["scopes"] == ["customers:read", "invoices:read"]
    assert body["name"] == "billing agent"
    assert body["expires_at"] is None
    assert body["revoked_at"] is None
    assert secret.startswith(body["display_prefix"])

    me = await client.get("/api/v1/me", headers=_bearer(secret))
    assert me.status_code == 200, me.text
    assert me.json()["token_id"] == body["id"]

    listed = await client.get("/api/v1/tokens", headers=tenant.headers)
    one = await client.get(f"/api/v1/tokens/{body['id']}", headers=tenant.headers)
    assert listed.status_code == one.status_code == 200
    for response in (listed, one):
        assert secret not in response.text
        assert secret.split("_")[1] not in response.text
    assert "token" not in one.json()
    assert all("token" not in item for item in listed.json()["data"])


async def test_token_with_expiry_in_days_expires_then(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await _create(client, tenant, expires_in_days=30)
    assert created.status_code == 201, created.text
    expires_at = datetime.fromisoformat(created.json()["expires_at"])
    assert abs(expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)


@pytest.mark.parametrize(("days", "status"), [(30.0, 201), (30.5, 422), (True, 422), ("30", 422)])
async def test_expiry_in_days_is_an_integer_as_json_schema_defines_it(
    client: httpx.AsyncClient, tenant: Tenant, days: object, status: int
) -> None:
    created = await _create(client, tenant, expires_in_days=days)
    assert created.status_code == status, created.text
    if status == 201:
        expires_at = datetime.fromisoformat(created.json()["expires_at"])
        assert abs(expires_at - (datetime.now(UTC) + timedelta(days=30))) < timedelta(minutes=1)


async def test_only_the_sha256_of_the_secret_is_stored(client: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    created = await _create(client, tenant)
    secret, token_id = created.json()["token"], created.json()["id"]
    row = await token_row(app, token_id)
    assert row.token_hash == token_format.hash_token(secret)
    random_part = secret.split("_")[1]
    leaks = [(table, column) for table, column, value in await every_stored_value(app) if random_part in value]
    assert leaks == []


async def test_token_created_with_an_idempotency_key_leaves_no_secret_in_the_database(
    client: httpx.AsyncClient, app: Any, tenant: Tenant
) -> None:
    created = await client.post(
        "/api/v1/tokens",
        json={"name": "retry-safe", "scopes": ["customers:read"]},
        headers={**tenant.headers, "Idempotency-Key": "create-token-1"},
    )
    assert created.status_code == 201, created.text
    random_part = created.json()["token"].split("_")[1]
    leaks = [(table, column) for table, column, value in await every_stored_value(app) if random_part in value]
    assert leaks == []


async def test_create_response_is_not_cacheable(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await _create(client, tenant)
    assert created.status_code == 201
    assert "no-store" in created.headers.get("cache-control", "")


async def test_token_list_pages_with_a_cursor_newest_first(client: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    issued = [tenant.token_id] + [(await issue_token(app, tenant, ["customers:read"]))[1] for _ in range(4)]
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await client.get("/api/v1/tokens", params=params, headers=tenant.headers)
        assert page.status_code == 200, page.text
        data = page.json()["data"]
        assert len(data) <= 2
        seen.extend(item["id"] for item in data)
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(issued, reverse=True)


async def test_read_one_token(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(f"/api/v1/tokens/{tenant.token_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["id"] == tenant.token_id
    assert response.json()["created_by_user_id"] == tenant.user_id


async def test_revoked_token_is_refused_at_once_with_a_bearer_challenge(
    client: httpx.AsyncClient, app: Any, tenant: Tenant
) -> None:
    secret, token_id = await issue_token(app, tenant, ["customers:read"])
    assert (await client.get("/api/v1/me", headers=_bearer(secret))).status_code == 200  # now cached

    revoked = await client.delete(f"/api/v1/tokens/{token_id}", headers=tenant.headers)
    assert revoked.status_code == 200, revoked.text
    revoked_at = revoked.json()["revoked_at"]
    assert revoked_at is not None

    _assert_invalid_token(await client.get("/api/v1/me", headers=_bearer(secret)))
    _assert_invalid_token(await client.get("/api/v1/customers", headers=_bearer(secret)))

    again = await client.delete(f"/api/v1/tokens/{token_id}", headers=tenant.headers)
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked_at


async def test_revoking_the_calling_token_itself_locks_it_out(client: httpx.AsyncClient, tenant: Tenant) -> None:
    revoked = await client.delete(f"/api/v1/tokens/{tenant.token_id}", headers=tenant.headers)
    assert revoked.status_code == 200, revoked.text
    _assert_invalid_token(await client.get("/api/v1/me", headers=tenant.headers))


async def test_request_without_credentials_is_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == "unauthenticated"


@pytest.mark.parametrize(
    "authorization",
    ["Bearer shp_notatoken", "Basic dXNlcjpwYXNz", "Bearer " + token_format.generate()],
    ids=["malformed", "basic", "unknown"],
)
async def test_bad_credentials_are_401_invalid_token(client: httpx.AsyncClient, authorization: str) -> None:
    _assert_invalid_token(await client.get("/api/v1/me", headers={"Authorization": authorization}))


async def test_me_describes_the_principal_its_organisation_and_scopes(
    client: httpx.AsyncClient, app: Any, tenant: Tenant
) -> None:
    secret, token_id = await issue_token(app, tenant, ["invoices:read", "customers:read"])
    response = await client.get("/api/v1/me", headers=_bearer(secret))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "actor_type": "token",
        "user_id": tenant.user_id,
        "token_id": token_id,
        "role": "owner",
        "scopes": ["customers:read", "invoices:read"],
        "organization": {"id": tenant.organization_id, "slug": "acme", "name": "Acme"},
        # The person behind the token (GET /api/v1/me serves browser sessions and tokens alike).
        "profile": {"id": tenant.user_id, "email": "owner@acme.example", "email_verified": False, "name": ""},
        "identities": [],
        "organizations": [{"id": tenant.organization_id, "slug": "acme", "name": "Acme", "role": "owner"}],
        "session_id": None,
        "csrf_token": None,
    }


async def test_token_use_records_when_and_from_where(app: Any, tenant: Tenant) -> None:
    secret, token_id = await issue_token(app, tenant, ["customers:read"])
    assert (await token_row(app, token_id)).last_used_at is None
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
    before = datetime.now(UTC)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as remote:
        assert (await remote.get("/api/v1/customers", headers=_bearer(secret))).status_code == 200
    row = await token_row(app, token_id)
    assert row.last_used_ip == "203.0.113.7"
    assert row.last_used_at is not None
    assert before - timedelta(seconds=1) <= row.last_used_at <= datetime.now(UTC)


async def test_expired_token_is_refused_even_while_cached(client: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    secret, _ = await issue_token(app, tenant, ["customers:read"], expires_in=timedelta(seconds=1))
    assert (await client.get("/api/v1/me", headers=_bearer(secret))).status_code == 200
    await asyncio.sleep(1.1)
    _assert_invalid_token(await client.get("/api/v1/me", headers=_bearer(secret)))


async def test_token_whose_expiry_passed_in_the_database_is_refused(
    client: httpx.AsyncClient, app: Any, tenant: Tenant
) -> None:
    secret, token_id = await issue_token(app, tenant, ["customers:read"], expires_in=timedelta(days=1))
    assert (await client.get("/api/v1/me", headers=_bearer(secret))).status_code == 200
    await set_token_columns(app, token_id, expires_at=datetime.now(UTC) - timedelta(minutes=1))
    app.state.authenticator.forget()
    _assert_invalid_token(await client.get("/api/v1/me", headers=_bearer(secret)))


async def test_zero_lifetime_is_expired_not_everlasting(client: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    secret, token_id = await issue_token(app, tenant, ["customers:read"], expires_in=timedelta(0))
    assert (await token_row(app, token_id)).expires_at is not None
    _assert_invalid_token(await client.get("/api/v1/me", headers=_bearer(secret)))


async def test_replayed_token_creation_withholds_the_secret_and_creates_nothing(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "create-token-2"}
    payload = {"name": "retry-safe", "scopes": ["customers:read"]}
    first = await client.post("/api/v1/tokens", json=payload, headers=headers)
    assert first.status_code == 201, first.text
    replay = await client.post("/api/v1/tokens", json=payload, headers=headers)
    assert replay.status_code == 409
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["code"] == "idempotency_response_withheld"
    assert first.json()["token"] not in replay.text
    listed = await client.get("/api/v1/tokens", headers=tenant.headers)
    assert [t["name"] for t in listed.json()["data"]].count("retry-safe") == 1
