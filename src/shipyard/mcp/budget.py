"""A per-token budget for the MCP tools marked expensive (decisions/0059).

An aggregate, a search or a PromQL query costs far more than a page read. Each API token may make
`SHIPYARD_MCP_EXPENSIVE_TOOL_BUDGET` such calls per `SHIPYARD_MCP_EXPENSIVE_TOOL_WINDOW_S`, counted
on the app's one rate limiter (kit/rate_limit.py: a sliding window, in Valkey/Redis db1 when
REDIS_URL is set, so every process shares one count; in-process otherwise). Over the budget a call
is refused before it opens a session, with the problem `tool_budget_exhausted` and when to retry.
"""

from __future__ import annotations

import json

from mcp_types import CallToolResult, TextContent

from shipyard.identity.principal import Principal
from shipyard.kit.problems import problem_body
from shipyard.kit.rate_limit import RateLimiter
from shipyard.settings import Settings

BUDGET_EXHAUSTED = "tool_budget_exhausted"
KEY_PREFIX = "mcp-expensive:"
# Aggregates over the organisation, a substring search, queue counts and PromQL: their cost grows
# with what the organisation holds, or lands on another server. Lookups and pages are not here.
EXPENSIVE_TOOLS = frozenset({"org_overview", "search_customers", "receivables_aging", "queue_depth", "query_metrics"})


def budget_key(principal: Principal) -> str:
    """Whom an expensive call counts against: its token (a user's own count without one)."""
    if principal.token_id:
        return f"{KEY_PREFIX}token:{principal.token_id}"
    return f"{KEY_PREFIX}user:{principal.organization_id}:{principal.user_id}"


async def spend(limiter: RateLimiter, settings: Settings, principal: Principal, tool: str) -> CallToolResult | None:
    """For an expensive tool, take one call from the caller's budget; the refusal when none is left."""
    budget = settings.mcp_expensive_tool_budget
    if tool not in EXPENSIVE_TOOLS or budget <= 0:  # 0 switches the budget off
        return None
    verdict = await limiter.hit(budget_key(principal), limit=budget, window_s=settings.mcp_expensive_tool_window_s)
    if verdict.allowed:
        return None
    detail = (
        f"This token has used its {budget} calls of expensive tools (such as {tool}) for the last "
        f"{settings.mcp_expensive_tool_window_s:g} seconds; retry in {verdict.retry_after_s} s."
    )
    problem = json.loads(problem_body(429, BUDGET_EXHAUSTED, detail, retry_after_s=verdict.retry_after_s))
    return CallToolResult(
        content=[TextContent(type="text", text=f"{detail} (code {BUDGET_EXHAUSTED})")],
        structured_content=problem,
        is_error=True,
    )
