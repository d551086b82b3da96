"""A forced 500 on the API shows up in `recent_errors`, scrubbed, and only for those who may see it."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI, Request

from shipyard.identity.auth import Authenticated
from tests.fixtures.mcp import mcp_session
from tests.fixtures.tenants import Tenant

BOOM = "/api/v1/_mcp_probe/boom"
ANONYMOUS_BOOM = "/api/v1/_mcp_probe/anonymous-boom"
SECRETS = ("hunter2", "jane.doe@example.com", "4111 1111 1111 1111", "4111", "whsec_c2VjcmV0", "sk_live_abc")
BODY = {
    "password": "hunter2",
    "contact": "jane.doe@example.com",
    "card": "4111 1111 1111 1111",
    "webhook_secret": "whsec_c2VjcmV0",
    "api_key": "sk_live_abc",
}


@pytest.fixture
def failing_routes(mcp_app: FastAPI) -> None:
    """Routes that crash with everything the request carried in the exception message."""

    async def boom(request: Request, principal: Authenticated) -> None:  # noqa: ARG001 - resolves the caller's org
        body = (await request.body()).decode()
        msg = f"could not process {request.headers['authorization']} with {body}"
        raise RuntimeError(msg)

    async def anonymous_boom() -> None:
        msg = "failed before anyone was authenticated"
        raise LookupError(msg)

    mcp_app.add_api_route(BOOM, boom, methods=["POST"])
    mcp_app.add_api_route(ANONYMOUS_BOOM, anonymous_boom, methods=["GET"])


async def force_500(client: httpx.AsyncClient, tenant: Tenant, request_id: str) -> None:
    response = await client.post(BOOM, json=BODY, headers={**tenant.headers, "X-Request-ID": request_id})
    assert response.status_code == 500
    assert response.json()["request_id"] == request_id


@pytest.mark.usefixtures("failing_routes")
async def test_a_forced_500_shows_up_in_recent_errors_with_its_request_id_and_no_secret(
    base_url: str, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await force_500(client, tenant, "req-forced-500")
    async with mcp_session(base_url, tenant.token) as session:
        result = await session.call_tool("recent_errors", {"limit": 5})
    assert result.is_error is False
    assert result.structured_content is not None
    errors = result.structured_content["errors"]
    assert result.structured_content["scope"] == "organization"
    [error] = [e for e in errors if e["request_id"] == "req-forced-500"]
    assert error["route"] == BOOM
    assert error["method"] == "POST"
    assert error["status"] == 500
    assert error["exception_type"] == "RuntimeError"
    assert error["organization_id"] == tenant.organization_id
    assert error["message"].startswith("could not process")
    assert "[EMAIL]" in error["message"]
    shown = json.dumps(result.structured_content) + result.content[0].text  # type: ignore[union-attr]
    for secret in (tenant.token, tenant.token[4:20], *SECRETS):
        assert secret not in shown


@pytest.mark.usefixtures("failing_routes")
async def test_an_organisation_sees_only_its_own_errors_and_an_operator_sees_all(
    base_url: str, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, operator: Tenant
) -> None:
    await force_500(client, tenant, "req-acme-500")
    await force_500(client, other_tenant, "req-globex-500")
    assert (await client.get(ANONYMOUS_BOOM, headers={"X-Request-ID": "req-anon-500"})).status_code == 500

    seen: dict[str, set[str]] = {}
    scopes: dict[str, str] = {}
    for name, who in (("acme", tenant), ("globex", other_tenant), ("ops", operator)):
        async with mcp_session(base_url, who.token) as session:
            result = await session.call_tool("recent_errors", {"limit": 100})
        assert result.structured_content is not None, result.content
        seen[name] = {e["request_id"] for e in result.structured_content["errors"]}
        scopes[name] = result.structured_content["scope"]
    assert seen["acme"] == {"req-acme-500"}
    assert seen["globex"] == {"req-globex-500"}
    assert seen["ops"] == {"req-acme-500", "req-globex-500", "req-anon-500"}
    assert scopes == {"acme": "organization", "globex": "organization", "ops": "deployment"}
