"""The server over stdio (`shipyard mcp`, or `python -m shipyard.mcp` until the CLI has it), with the SDK's client."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from sqlalchemy import select, update

from shipyard.mcp.tools import DESCRIPTIONS
from shipyard.models import ApiToken, AuditEvent
from shipyard.settings import Settings
from tests.fixtures.seed import Seeded
from tests.fixtures.tenants import Tenant, issue_token

# Each test starts a Python process; on a loaded machine the imports alone take seconds.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def server_command() -> list[str]:
    """`shipyard mcp` once the CLI has the command; until then the module it will run."""
    from shipyard import cli

    if any(
        command.name == "mcp" or getattr(command.callback, "__name__", "") == "mcp"
        for command in cli.app.registered_commands
    ):
        return [str(Path(sys.executable).with_name("shipyard")), "mcp"]
    return [sys.executable, "-m", "shipyard.mcp"]


def server_env(settings: Settings, token: str) -> dict[str, str]:
    assert settings.database_url is not None
    return {
        "SHIPYARD_ENV": "test",
        "SHIPYARD_DATABASE_URL": settings.database_url,
        "SHIPYARD_DATA_DIR": str(settings.data_dir),
        "SHIPYARD_LOG_FORMAT": "json",
        "SHIPYARD_LOG_LEVEL": "WARNING",
        # Re-check the token on every call, so a revocation in this process is seen at once.
        "SHIPYARD_TOKEN_CACHE_TTL_S": "0",
        "SHIPYARD_MCP_TOKEN": token,
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
    }


@asynccontextmanager
async def stdio_session(settings: Settings, token: str, mode: str = "auto") -> AsyncIterator[Client]:
    command, *args = server_command()
    parameters = StdioServerParameters(command=command, args=args, env=server_env(settings, token), cwd=Path.cwd())
    async with Client(parameters, mode=mode, cache=None) as client:
        yield client


async def run_to_exit(settings: Settings, token: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *server_command(),
        env={**server_env(settings, token), "PATH": "/usr/bin:/bin"},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(b""), timeout=60)
    return process.returncode or 0, stderr.decode()


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_lists_every_tool_read_only(settings: Settings, tenant: Tenant, mode: str) -> None:
    async with stdio_session(settings, tenant.token, mode) as client:
        tools = (await client.list_tools()).tools
    assert {tool.name for tool in tools} == set(DESCRIPTIONS)
    for tool in tools:
        wire = tool.model_dump(by_alias=True, exclude_none=True)
        assert wire["annotations"]["readOnlyHint"] is True
        assert wire["annotations"]["openWorldHint"] is False


async def test_stdio_answers_for_the_tokens_organisation_only(settings: Settings, acme: Seeded, globex: Seeded) -> None:
    async with stdio_session(settings, globex.tenant.token) as client:
        overview = await client.call_tool("org_overview", {})
        alices = await client.call_tool("search_customers", {"query": "alice"})
        foreign = await client.call_tool("get_customer", {"customer_id": acme.customers["alice"]})
    assert overview.structured_content is not None
    assert overview.structured_content["organization"]["slug"] == "globex"
    assert overview.structured_content["customers"] == 1
    assert alices.structured_content is not None
    assert [c["id"] for c in alices.structured_content["customers"]] == [globex.customers["alice"]]
    assert foreign.is_error is True


async def test_stdio_calls_are_audited_with_the_token_and_a_request_id(
    settings: Settings, mcp_app: FastAPI, acme: Seeded
) -> None:
    async with stdio_session(settings, acme.tenant.token) as client:
        result = await client.call_tool("receivables_aging", {})
    assert result.is_error is False
    async with mcp_app.state.database.reader() as session:
        event = await session.scalar(select(AuditEvent).where(AuditEvent.action == "mcp.tool_called"))
    assert event is not None
    assert (event.details["tool"], event.token_id, event.result) == (
        "receivables_aging",
        acme.tenant.token_id,
        "success",
    )
    assert event.request_id
    assert event.ip is None


@pytest.mark.parametrize("kind", ["revoked", "expired", "no_mcp_read"])
async def test_stdio_refuses_to_start_with_a_bad_token(
    settings: Settings, mcp_app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, kind: str
) -> None:
    if kind == "no_mcp_read":
        secret, _ = await issue_token(mcp_app, tenant, ["customers:read"])
    elif kind == "expired":
        secret, _ = await issue_token(mcp_app, tenant, ["mcp:read"], expires_in=timedelta(seconds=-1))
    else:
        secret, token_id = await issue_token(mcp_app, tenant, ["mcp:read"])
        assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=tenant.headers)).status_code == 200
    status, stderr = await run_to_exit(settings, secret)
    assert status == 2
    assert "shipyard mcp:" in stderr
    assert secret not in stderr


async def test_stdio_refuses_calls_once_the_token_is_revoked(
    settings: Settings, mcp_app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    secret, token_id = await issue_token(mcp_app, tenant, ["mcp:read"])
    async with stdio_session(settings, secret) as session:
        before = await session.call_tool("org_overview", {})
        assert (await client.delete(f"/api/v1/tokens/{token_id}", headers=tenant.headers)).status_code == 200
        after = await session.call_tool("org_overview", {})
    assert before.is_error is False
    assert after.is_error is True
    assert "revoked" in after.content[0].text  # type: ignore[union-attr]


async def test_stdio_refusing_a_token_without_mcp_read_audits_it(
    settings: Settings, mcp_app: FastAPI, tenant: Tenant
) -> None:
    secret, token_id = await issue_token(mcp_app, tenant, ["customers:read"])
    status, _ = await run_to_exit(settings, secret)
    assert status == 2
    async with mcp_app.state.database.reader() as session:
        events = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "auth.token_rejected"))).all()
    assert [(event.token_id, event.details["reason"]) for event in events] == [(token_id, "insufficient_scope")]


async def test_stdio_use_records_the_time_but_keeps_the_last_known_ip(
    settings: Settings, mcp_app: FastAPI, tenant: Tenant
) -> None:
    secret, token_id = await issue_token(mcp_app, tenant, ["mcp:read"])
    used_over_http = datetime(2026, 1, 1, tzinfo=UTC)
    async with mcp_app.state.database.writer() as session:
        await session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .values(last_used_at=used_over_http, last_used_ip="203.0.113.7")
        )
        await session.commit()
    async with stdio_session(settings, secret) as client:
        assert (await client.call_tool("org_overview", {})).is_error is False
    async with mcp_app.state.database.reader() as session:
        token = await session.get(ApiToken, token_id)
    assert token is not None
    assert token.last_used_at is not None
    assert token.last_used_at > used_over_http
    assert token.last_used_ip == "203.0.113.7"
