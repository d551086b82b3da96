"""Scopes: a missing one is a 403 that names it, and no token ever exceeds its creator's role."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from shipyard.kit.problems import ProblemError
from shipyard.models import Role
from tests.fixtures.records import audit_events, remove_member, set_role
from tests.fixtures.tenants import Tenant, add_member, issue_token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_missing_scope_is_403_naming_the_scope(client: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    secret, _ = await issue_token(app, tenant, ["customers:read"])
    assert (await client.get("/api/v1/customers", headers=_bearer(secret))).status_code == 200

    response = await client.post(
        "/api/v1/customers", json={"name": "Ada", "email": "ada@example.com"}, headers=_bearer(secret)
    )
    assert response.status_code == 403, response.text
    problem = response.json()
    assert problem["code"] == "insufficient_scope"
    assert problem["missing_scopes"] == ["customers:write"]
    assert "customers:write" in problem["detail"]
    assert problem["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/v1/tokens", "tokens:write"),
        ("GET", "/api/v1/audit-events", "audit:read"),
        ("GET", "/api/v1/invoices", "invoices:read"),
    ],
)
async def test_each_guarded_route_names_its_scope(
    client: httpx.AsyncClient, app: Any, tenant: Tenant, method: str, path: str, scope: str
) -> None:
    secret, _ = await issue_token(app, tenant, ["customers:read"])
    response = await client.request(method, path, headers=_bearer(secret))
    assert response.status_code == 403
    assert response.json()["missing_scopes"] == [scope]


async def test_token_cannot_grant_scopes_beyond_its_own(client: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    secret, _ = await issue_token(app, tenant, ["tokens:write", "customers:read"])
    refused = await client.post(
        "/api/v1/tokens",
        json={"name": "escalate", "scopes": ["customers:read", "customers:write"]},
        headers=_bearer(secret),
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == "scope_not_grantable"
    assert refused.json()["missing_scopes"] == ["customers:write"]
    listed = await client.get("/api/v1/tokens", headers=tenant.headers)
    assert "escalate" not in [token["name"] for token in listed.json()["data"]]
    granted = await client.post(
        "/api/v1/tokens", json={"name": "subset", "scopes": ["customers:read"]}, headers=_bearer(secret)
    )
    assert granted.status_code == 201, granted.text


async def test_viewer_cannot_mint_write_scopes(client: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    viewer_id = await add_member(app, tenant, "viewer@acme.example", Role.VIEWER)
    with pytest.raises(ProblemError) as refused:
        await issue_token(app, tenant, ["customers:read", "customers:write"], user_id=viewer_id)
    assert refused.value.status == 403
    assert refused.value.code == "scope_not_grantable"
    assert refused.value.extensions["missing_scopes"] == ["customers:write"]

    secret, _ = await issue_token(app, tenant, ["customers:read"], user_id=viewer_id)
    over_http = await client.post(
        "/api/v1/tokens", json={"name": "w", "scopes": ["customers:write"]}, headers=_bearer(secret)
    )
    assert over_http.status_code == 403
    assert over_http.json()["code"] == "insufficient_scope"


async def test_member_cannot_mint_admin_scopes(app: Any, tenant: Tenant) -> None:
    member_id = await add_member(app, tenant, "member@acme.example", Role.MEMBER)
    with pytest.raises(ProblemError) as refused:
        await issue_token(app, tenant, ["customers:write", "tokens:write"], user_id=member_id)
    assert refused.value.extensions["missing_scopes"] == ["tokens:write"]


async def test_demoted_creator_shrinks_the_tokens_effective_scopes(
    client: httpx.AsyncClient, app: Any, tenant: Tenant
) -> None:
    admin_id = await add_member(app, tenant, "admin@acme.example", Role.ADMIN)
    secret, _ = await issue_token(app, tenant, ["customers:read", "customers:write", "tokens:write"], user_id=admin_id)
    before = (await client.get("/api/v1/me", headers=_bearer(secret))).json()
    assert before["scopes"] == ["customers:read", "customers:write", "tokens:write"]

    await set_role(app, tenant.organization_id, admin_id, Role.VIEWER)
    app.state.authenticator.forget()

    after = (await client.get("/api/v1/me", headers=_bearer(secret))).json()
    assert after["role"] == "viewer"
    assert after["scopes"] == ["customers:read"]
    write = await client.post("/api/v1/customers", json={"name": "A", "email": "a@b.example"}, headers=_bearer(secret))
    assert write.status_code == 403
    assert write.json()["missing_scopes"] == ["customers:write"]
    assert (await client.get("/api/v1/customers", headers=_bearer(secret))).status_code == 200


async def test_token_of_a_creator_who_left_the_organisation_is_refused(
    client: httpx.AsyncClient, app: Any, tenant: Tenant
) -> None:
    admin_id = await add_member(app, tenant, "leaver@acme.example", Role.ADMIN)
    secret, token_id = await issue_token(app, tenant, ["customers:read"], user_id=admin_id)
    assert (await client.get("/api/v1/me", headers=_bearer(secret))).status_code == 200

    await remove_member(app, tenant.organization_id, admin_id)
    app.state.authenticator.forget()

    response = await client.get("/api/v1/me", headers=_bearer(secret))
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    [rejected] = await audit_events(app, action="auth.token_rejected")
    assert rejected.details == {"reason": "creator_not_a_member"}
    assert rejected.target_id == token_id


@pytest.mark.parametrize("scopes", [["customers:read", "root:all"], ["CUSTOMERS:READ"], []])
async def test_unknown_or_no_scopes_are_422(client: httpx.AsyncClient, tenant: Tenant, scopes: list[str]) -> None:
    response = await client.post("/api/v1/tokens", json={"name": "x", "scopes": scopes}, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["pointer"].startswith("#/scopes")


async def test_unknown_scope_is_refused_by_the_service_too(app: Any, tenant: Tenant) -> None:
    with pytest.raises(ProblemError) as refused:
        await issue_token(app, tenant, ["customers:read", "root:all"])
    assert refused.value.status == 422
    assert refused.value.code == "unknown_scope"
