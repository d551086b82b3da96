"""The server over streamable HTTP: the tool list, both protocol eras, authentication and transport security."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import timedelta

import httpx
import httpx2
import pytest
from fastapi import FastAPI
from mcp.shared.exceptions import MCPError
from sqlalchemy import select

from shipyard.app import create_app
from shipyard.identity import token_format
from shipyard.mcp.server import transport_security
from shipyard.mcp.tools import DESCRIPTIONS
from shipyard.models.error_report import ErrorReport
from shipyard.settings import Environment, Settings
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.mcp import mcp_session
from tests.fixtures.seed import Seeded
from tests.fixtures.sqlite_lock import database_locked
from tests.fixtures.tenants import Tenant, create_tenant, issue_token

TOOLS = {
    "org_overview",
    "search_customers",
    "get_customer",
    "list_invoices",
    "receivables_aging",
    "recent_audit_events",
    "recent_errors",
    "queue_depth",
    "query_metrics",
    "member_counts_by_role",
    "pending_invitations",
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
MCP_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_every_tool_is_listed_read_only_and_closed_world(base_url: str, tenant: Tenant, mode: str) -> None:
    async with mcp_session(base_url, tenant.token, mode=mode) as client:
        listed = (await client.list_tools()).tools
    assert {tool.name for tool in listed} == TOOLS
    for tool in listed:
        wire = tool.model_dump(by_alias=True, exclude_none=True)
        assert wire["annotations"]["readOnlyHint"] is True, tool.name
        assert wire["annotations"]["openWorldHint"] is False, tool.name
        assert wire["annotations"]["destructiveHint"] is False, tool.name
        assert "outputSchema" in wire, tool.name
        assert wire["description"] == DESCRIPTIONS[tool.name]


def test_every_description_says_what_it_cannot_do_and_its_limits() -> None:
    for name, description in DESCRIPTIONS.items():
        assert "cannot" in description or "never" in description or "Read-only" in description, name
        if name in {"search_customers", "list_invoices", "recent_audit_events", "recent_errors"}:
            assert "capped at 100" in description, name


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_tool_call_returns_structured_output_and_a_text_rendering(
    base_url: str, acme: Seeded, mode: str
) -> None:
    async with mcp_session(base_url, acme.tenant.token, mode=mode) as client:
        result = await client.call_tool("org_overview", {})
    assert result.is_error is False
    assert result.structured_content is not None
    assert result.structured_content["customers"] == 3
    text = result.content[0].text  # type: ignore[union-attr]
    assert "3 customers" in text
    assert "Outstanding:" in text


async def _post(url: str, headers: dict[str, str]) -> httpx2.Response:
    async with httpx2.AsyncClient() as http:
        return await http.post(f"{url}/mcp", json=INITIALIZE, headers={**MCP_HEADERS, **headers})


async def test_a_request_without_a_token_is_401_and_points_at_the_resource_metadata(base_url: str) -> None:
    response = await _post(base_url, {})
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge
    assert "resource_metadata=" in challenge
    assert "/.well-known/oauth-protected-resource/mcp" in challenge


@pytest.mark.parametrize(
    "token",
    ["shp_notarealtokenatallnotarealtoken_000000", "garbage", "shp_" + "A" * 32 + "_AAAAAA"],
)
async def test_a_malformed_or_unknown_token_is_401(base_url: str, token: str) -> None:
    response = await _post(base_url, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_a_token_without_mcp_read_is_403(base_url: str, mcp_app: object, tenant: Tenant) -> None:
    secret, _ = await issue_token(mcp_app, tenant, ["customers:read", "invoices:read"])
    response = await _post(base_url, {"Authorization": f"Bearer {secret}"})
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert "mcp:read" in response.json()["error_description"]


async def test_the_sdk_client_cannot_connect_without_mcp_read(base_url: str, mcp_app: object, tenant: Tenant) -> None:
    secret, _ = await issue_token(mcp_app, tenant, ["customers:read"])
    with pytest.raises(ExceptionGroup) as refused:
        async with mcp_session(base_url, secret) as client:
            await client.list_tools()
    assert refused.group_contains(MCPError)


async def test_a_revoked_token_is_refused_at_once_and_the_refusal_is_audited(
    base_url: str, mcp_app: object, client: object, tenant: Tenant
) -> None:
    secret, token_id = await issue_token(mcp_app, tenant, ["mcp:read"])
    assert (await _post(base_url, {"Authorization": f"Bearer {secret}"})).status_code == 200
    revoked = await client.delete(f"/api/v1/tokens/{token_id}", headers=tenant.headers)  # type: ignore[attr-defined]
    assert revoked.status_code == 200
    assert (await _post(base_url, {"Authorization": f"Bearer {secret}"})).status_code == 401
    audit = await client.get(  # type: ignore[attr-defined]
        "/api/v1/audit-events", params={"action": "auth.token_rejected"}, headers=tenant.headers
    )
    reasons = [(e["target_id"], e["details"]["reason"]) for e in audit.json()["data"]]
    assert (token_id, "token_revoked") in reasons


async def test_an_expired_token_is_401(base_url: str, mcp_app: object, tenant: Tenant) -> None:
    secret, _ = await issue_token(mcp_app, tenant, ["mcp:read"], expires_in=timedelta(seconds=-1))
    assert (await _post(base_url, {"Authorization": f"Bearer {secret}"})).status_code == 401


async def test_the_protected_resource_metadata_is_published(base_url: str) -> None:
    async with httpx2.AsyncClient() as http:
        response = await http.get(f"{base_url}/.well-known/oauth-protected-resource/mcp")
    assert response.status_code == 200
    metadata = response.json()
    assert metadata["resource"] == "http://127.0.0.1:8000/mcp"
    assert metadata["scopes_supported"] == ["mcp:read"]
    assert metadata["bearer_methods_supported"] == ["header"]


async def test_a_host_that_is_not_allowed_is_421(base_url: str, tenant: Tenant) -> None:
    response = await _post(base_url, {"Authorization": f"Bearer {tenant.token}", "Host": "evil.example"})
    assert response.status_code == 421


async def test_an_origin_that_is_not_allowed_is_403(base_url: str, tenant: Tenant) -> None:
    response = await _post(base_url, {"Authorization": f"Bearer {tenant.token}", "Origin": "https://evil.example"})
    assert response.status_code == 403


async def test_mcp_responses_carry_a_request_id(base_url: str, tenant: Tenant) -> None:
    response = await _post(base_url, {"Authorization": f"Bearer {tenant.token}", "X-Request-ID": "req-mcp-1"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "req-mcp-1"


def test_allowed_hosts_and_origins_default_to_the_public_url_plus_loopback(settings: Settings) -> None:
    security = transport_security(settings)
    assert security.enable_dns_rebinding_protection is True
    assert security.allowed_hosts[0] == "127.0.0.1:8000"
    assert "localhost:*" in security.allowed_hosts
    assert security.allowed_origins[0] == "http://127.0.0.1:8000"


def test_production_allows_only_the_public_host_by_default(settings: Settings) -> None:
    production = settings.model_copy(
        update={"env": Environment.PRODUCTION, "public_url": "https://shipyard.example.com"}
    )
    security = transport_security(production)
    assert security.allowed_hosts == ["shipyard.example.com"]
    assert security.allowed_origins == ["https://shipyard.example.com"]


async def test_configured_hosts_and_origins_replace_the_defaults(settings: Settings, tenant: Tenant) -> None:
    configured = settings.model_copy(
        update={"mcp_allowed_hosts": ["mcp.example.com"], "mcp_allowed_origins": ["https://app.example.com"]}
    )
    other = create_app(configured)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(running_lifespan(other))
        transport = httpx.ASGITransport(app=other)
        async with httpx.AsyncClient(transport=transport, base_url="http://mcp.example.com") as http:
            headers = {**MCP_HEADERS, "Authorization": f"Bearer {tenant.token}"}
            allowed = await http.post("/mcp", json=INITIALIZE, headers=headers)
            from_app = await http.post(
                "/mcp", json=INITIALIZE, headers={**headers, "Origin": "https://app.example.com"}
            )
            loopback = await http.post("/mcp", json=INITIALIZE, headers={**headers, "Host": "127.0.0.1:8000"})
            evil = await http.post("/mcp", json=INITIALIZE, headers={**headers, "Origin": "http://127.0.0.1:8000"})
    assert (allowed.status_code, from_app.status_code) == (200, 200)
    assert (loopback.status_code, evil.status_code) == (421, 403)


async def test_a_failure_before_the_tool_runs_is_a_recorded_problem(impatient_app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=impatient_app)
    unknown = {**MCP_HEADERS, "Authorization": f"Bearer {token_format.generate()}", "X-Request-ID": "req-mcp-locked"}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        # Refusing the unknown token writes its audit event: the database is locked, the write fails.
        with database_locked(impatient_app, until_a_write_fails=True):
            response = await http.post("/mcp", json=INITIALIZE, headers=unknown)

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert (response.json()["code"], response.json()["request_id"]) == ("internal_error", "req-mcp-locked")
    async with impatient_app.state.database.reader() as session:
        report = await session.scalar(select(ErrorReport).where(ErrorReport.request_id == "req-mcp-locked"))
    assert report is not None
    assert (report.method, report.route, report.status) == ("POST", "/mcp", 500)
    assert report.exception_type == "sqlalchemy.exc.OperationalError"


async def test_a_read_only_call_succeeds_while_the_database_is_locked(impatient_app: FastAPI) -> None:
    tenant = await create_tenant(impatient_app, "Acme", "acme")
    transport = httpx.ASGITransport(app=impatient_app)
    headers = {**MCP_HEADERS, "Authorization": f"Bearer {tenant.token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        # Recording when the token was last used cannot write now; the call only reads, and succeeds.
        with database_locked(impatient_app):
            response = await http.post("/mcp", json=INITIALIZE, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["result"]["serverInfo"]["name"] == "shipyard"


async def test_a_token_without_mcp_read_is_audited_as_rejected(
    base_url: str, mcp_app: object, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    secret, token_id = await issue_token(mcp_app, tenant, ["customers:read", "invoices:read"])
    assert (await _post(base_url, {"Authorization": f"Bearer {secret}"})).status_code == 403
    audit = await client.get("/api/v1/audit-events", params={"action": "auth.token_rejected"}, headers=tenant.headers)
    events = [(e["target_id"], e["details"]["reason"], e["result"]) for e in audit.json()["data"]]
    assert events == [(token_id, "insufficient_scope", "failure")]
