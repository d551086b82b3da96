"""The per-token budget of the expensive MCP tools: refused with `tool_budget_exhausted` once spent.

Counted on the app's one rate limiter, so with Redis every process shares one count.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mcp.client import Client
from redis.asyncio import Redis
from sqlalchemy import select

from shipyard.app import create_app
from shipyard.models import AuditEvent
from shipyard.settings import Settings
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.mcp import mcp_session, serve_on_loopback
from tests.fixtures.servers import RedisServer
from tests.fixtures.tenants import Tenant, create_tenant, issue_token

BUDGET = 3


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _budgeted(settings: Settings, **overrides: Any) -> Settings:
    return settings.model_copy(
        update={"mcp_expensive_tool_budget": BUDGET, "mcp_expensive_tool_window_s": 60.0, **overrides}
    )


@pytest.fixture
async def budgeted_app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(_budgeted(settings))
    async with running_lifespan(application):
        yield application


async def _tool(client: Client, tool: str) -> tuple[bool, dict[str, Any] | None, str]:
    result = await client.call_tool(tool, {})
    text = " ".join(getattr(block, "text", "") for block in result.content)
    return bool(result.is_error), result.structured_content, text


async def test_a_token_over_its_budget_is_refused_with_a_problem_and_when_to_retry(budgeted_app: Any) -> None:
    acme = await create_tenant(budgeted_app, "Acme", "acme")
    second_token, _ = await issue_token(budgeted_app, acme, ["mcp:read", "customers:read", "invoices:read"])
    async with serve_on_loopback(budgeted_app) as url:
        async with mcp_session(url, acme.token) as client:
            spent = [await _tool(client, tool) for tool in ("org_overview", "receivables_aging", "org_overview")]
            refused, problem, text = await _tool(client, "receivables_aging")
            cheap, _, _ = await _tool(client, "member_counts_by_role")
        async with mcp_session(url, second_token) as other:
            others, _, _ = await _tool(other, "org_overview")
    assert [is_error for is_error, _, _ in spent] == [False] * BUDGET
    assert refused is True
    assert problem is not None
    assert problem["code"] == "tool_budget_exhausted"
    assert problem["status"] == 429
    assert problem["type"].endswith("/tool_budget_exhausted")
    assert 1 <= problem["retry_after_s"] <= 60
    assert "tool_budget_exhausted" in text
    assert f"retry in {problem['retry_after_s']} s" in text
    # Cheap tools do not count, and every token has its own budget.
    assert cheap is False
    assert others is False
    async with budgeted_app.state.database.reader() as session:
        results = list(
            await session.scalars(
                select(AuditEvent.result)
                .where(AuditEvent.action == "mcp.tool_called", AuditEvent.token_id == acme.token_id)
                .order_by(AuditEvent.id)
            )
        )
    assert results[BUDGET] == "failure"


async def test_the_budget_comes_back_as_its_window_slides(settings: Settings) -> None:
    application = create_app(_budgeted(settings, mcp_expensive_tool_budget=1, mcp_expensive_tool_window_s=1.0))
    async with running_lifespan(application), serve_on_loopback(application) as url:
        acme = await create_tenant(application, "Acme", "acme")
        async with mcp_session(url, acme.token) as client:
            first, second = await _tool(client, "org_overview"), await _tool(client, "org_overview")
            await asyncio.sleep(1.1)
            third = await _tool(client, "org_overview")
    assert (first[0], second[0], third[0]) == (False, True, False)


async def test_a_budget_of_zero_switches_it_off(settings: Settings) -> None:
    application = create_app(_budgeted(settings, mcp_expensive_tool_budget=0))
    async with running_lifespan(application), serve_on_loopback(application) as url:
        acme = await create_tenant(application, "Acme", "acme")
        async with mcp_session(url, acme.token) as client:
            answers = [await _tool(client, "org_overview") for _ in range(BUDGET + 2)]
    assert [is_error for is_error, _, _ in answers] == [False] * (BUDGET + 2)


async def test_with_redis_every_process_spends_one_budget(settings: Settings, redis_server: RedisServer) -> None:
    flusher = Redis.from_url(redis_server.url(1))
    await flusher.flushdb()
    await flusher.aclose()
    shared = _budgeted(settings, redis_url=redis_server.url(0))
    first, second = create_app(shared), create_app(shared)
    async with running_lifespan(first), running_lifespan(second):
        acme: Tenant = await create_tenant(first, "Acme", "acme")
        async with serve_on_loopback(first) as one, serve_on_loopback(second) as two:
            refused = []
            for index in range(BUDGET + 1):
                # Two web processes behind one proxy, taking turns.
                async with mcp_session((one, two)[index % 2], acme.token) as client:
                    refused.append((await _tool(client, "queue_depth"))[0])
    assert refused == [False] * BUDGET + [True]
