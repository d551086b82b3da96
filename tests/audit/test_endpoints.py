"""`GET /api/v1/audit-events`: needs audit:read, filters, pages, and shows only the caller's organisation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from shipyard.auth import audit as auth_audit
from shipyard.models import Role
from tests.fixtures.tenants import Tenant, add_member, create_tenant, issue_token

EVENTS = "/api/v1/audit-events"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _customer(client: httpx.AsyncClient, headers: dict[str, str], name: str) -> str:
    response = await client.post(
        "/api/v1/customers", json={"name": name, "email": f"{name.lower()}@example.com"}, headers=headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _events(client: httpx.AsyncClient, tenant: Tenant, **params: str | int) -> list[dict[str, Any]]:
    response = await client.get(EVENTS, params={"limit": 100, **params}, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    return list(response.json()["data"])


async def test_reading_the_log_needs_audit_read(client: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    secret, _ = await issue_token(app, tenant, ["customers:read", "customers:write", "tokens:write"])
    response = await client.get(EVENTS, headers=_bearer(secret))
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert response.json()["missing_scopes"] == ["audit:read"]


async def test_events_are_newest_first_and_carry_their_context(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer_id = await _customer(client, tenant.headers, "Ada")
    [event, *older] = await _events(client, tenant)
    assert event["action"] == "customer.created"
    assert event["target_id"] == customer_id
    assert event["actor_type"] == "token"
    assert event["actor_id"] == tenant.user_id
    assert event["token_id"] == tenant.token_id
    assert event["result"] == "success"
    assert event["request_id"]
    assert event["ip"] == "127.0.0.1"
    # Setting the tenant up (as the system, not through this token) came first.
    assert [e["action"] for e in older] == ["token.created", "organization.created"]
    assert {e["actor_type"] for e in older} == {"system"}


async def test_filters_by_action_actor_and_target(client: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    ada = await _customer(client, tenant.headers, "Ada")
    bob = await _customer(client, tenant.headers, "Bob")
    await client.patch(f"/api/v1/customers/{ada}", json={"name": "Ada L."}, headers=tenant.headers)
    colleague = await add_member(app, tenant, "colleague@acme.example", Role.MEMBER)
    secret, _ = await issue_token(app, tenant, ["customers:write"], user_id=colleague)
    carol = await _customer(client, _bearer(secret), "Carol")

    created = await _events(client, tenant, action="customer.created")
    assert sorted(e["target_id"] for e in created) == sorted([ada, bob, carol])
    by_colleague = await _events(client, tenant, actor_id=colleague)
    assert [(e["action"], e["target_id"]) for e in by_colleague] == [("customer.created", carol)]
    about_ada = await _events(client, tenant, target_type="customer", target_id=ada)
    assert [e["action"] for e in about_ada] == ["customer.updated", "customer.created"]
    assert await _events(client, tenant, target_type="invoice") == []


async def test_filters_by_time_range(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for name in ("Ada", "Bob", "Cy"):
        await _customer(client, tenant.headers, name)
    everything = await _events(client, tenant, action="customer.created")
    times = sorted(datetime.fromisoformat(e["occurred_at"]) for e in everything)
    at = times[1].isoformat()

    after = await _events(client, tenant, action="customer.created", occurred_after=at)
    before = await _events(client, tenant, action="customer.created", occurred_before=at)
    assert sorted(datetime.fromisoformat(e["occurred_at"]) for e in after) == times[1:]
    assert sorted(datetime.fromisoformat(e["occurred_at"]) for e in before) == times[:1]
    future = (datetime.fromisoformat(at) + timedelta(days=1)).isoformat()
    assert await _events(client, tenant, occurred_after=future) == []


@pytest.mark.parametrize("bound", ["occurred_after", "occurred_before"])
async def test_time_bound_without_a_zone_is_422_not_500(client: httpx.AsyncClient, tenant: Tenant, bound: str) -> None:
    response = await client.get(EVENTS, params={bound: "2026-01-01T00:00:00"}, headers=tenant.headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["parameter"] == bound


async def test_log_pages_with_a_cursor(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for name in ("Ada", "Bob", "Cy", "Di"):
        await _customer(client, tenant.headers, name)
    everything = [e["id"] for e in await _events(client, tenant)]
    assert len(everything) == 6  # four customers, plus the tenant's organisation and token
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await client.get(EVENTS, params=params, headers=tenant.headers)
        assert page.status_code == 200, page.text
        seen.extend(e["id"] for e in page.json()["data"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == everything


async def test_organisation_sees_only_its_own_events(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    theirs = await _customer(client, other_tenant.headers, "Zed")
    mine = await _events(client, tenant)
    assert theirs not in {e["target_id"] for e in mine}
    assert {e["actor_id"] for e in mine} <= {tenant.user_id, None}
    assert await _events(client, tenant, target_id=theirs) == []


async def test_the_operators_see_failed_sign_ins_and_nobody_else_does(
    client: httpx.AsyncClient, app: Any, tenant: Tenant
) -> None:
    app.state.settings.operator_org = "ops"
    operator = await create_tenant(app, "Operations", "ops")
    await _customer(client, tenant.headers, "Ada")
    await auth_audit.record_auth_event_now(
        app.state.database,
        auth_audit.LOGIN_FAILED,
        user_id=None,
        organization_id=None,
        provider="google",
        reason="state_mismatch",
    )
    unknown = await client.get("/api/v1/customers", headers=_bearer(f"shp_{'A' * 32}_{'B' * 6}"))
    assert unknown.status_code == 401

    seen = {event["action"]: event for event in await _events(client, operator)}
    assert seen["auth.login_failed"]["details"]["reason"] == "state_mismatch"
    assert seen["auth.login_failed"]["result"] == "failure"
    assert seen["auth.token_rejected"]["details"]["reason"] in {"malformed_token", "unknown_token"}
    assert "customer.created" not in seen  # another organisation's events stay its own
    only_failures = await _events(client, operator, action="auth.login_failed")
    assert [event["action"] for event in only_failures] == ["auth.login_failed"]

    # Any other organisation sees its own events only, as before.
    assert not {"auth.login_failed", "auth.token_rejected"} & {e["action"] for e in await _events(client, tenant)}


async def test_without_an_operator_organisation_nobody_sees_failed_sign_ins(
    client: httpx.AsyncClient, app: Any, tenant: Tenant
) -> None:
    await auth_audit.record_auth_event_now(
        app.state.database, auth_audit.LOGIN_FAILED, user_id=None, organization_id=None, reason="state_mismatch"
    )
    ops = await create_tenant(app, "Operations", "ops")  # named like one, but not configured as one
    assert app.state.settings.operator_org is None
    for someone in (tenant, ops):
        assert "auth.login_failed" not in {event["action"] for event in await _events(client, someone)}
