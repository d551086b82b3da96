"""The MCP tools. Each is read-only, closed-world, scoped to the caller's organisation and audited.

`DESCRIPTIONS` are the tools' descriptions on the wire: what each returns, its limits, and what it
cannot do. Annotations are evaluated at import time (no `from __future__ import annotations`)
because the SDK builds each tool's input and output schemas from them.
"""

from datetime import date
from typing import Annotated, Literal

from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import AfterValidator, ConfigDict, Field, StrictInt
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.error_reports import service as error_service
from shipyard.kit.types import IsoDateText, WholeNumber
from shipyard.mcp import service
from shipyard.mcp.budget import EXPENSIVE_TOOLS
from shipyard.mcp.calls import ToolCall, answer
from shipyard.mcp.metrics_query import MAX_RANGE_S, MAX_SERIES, MIN_STEP_S, MetricsQuery, run_query
from shipyard.mcp.schemas import (
    AuditEvents,
    CustomerDetail,
    CustomerSearch,
    InvoiceList,
    MemberCounts,
    OrgOverview,
    PendingInvitations,
    QueueDepth,
    ReceivablesAging,
    RecentErrors,
)
from shipyard.models.base import utcnow

MAX_LIMIT = 100
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False)
CUSTOMERS_READ = "customers:read"
INVOICES_READ = "invoices:read"
AUDIT_READ = "audit:read"
ERRORS_READ = "errors:read"
WEBHOOKS_READ = "webhooks:read"
MEMBERS_READ = "members:read"
MEMBERS_WRITE = "members:write"
_SCOPE_NOTE = " Covers only the organisation of the token in use. Read-only: it cannot change anything."
_BUDGET_NOTE = (
    " Expensive: each call counts against the token's budget for expensive tools; over it the call is "
    "refused with the code tool_budget_exhausted and the seconds to wait (retry_after_s)."
)

_WHAT_EACH_RETURNS = {
    "org_overview": (
        "Overview of your organisation: its name, the number of active customers and of members, the "
        "number of invoices in each status (draft, open, paid, void), and the amount outstanding (open "
        "invoices) per currency as integer minor units, currency and a formatted string." + _SCOPE_NOTE
    ),
    "search_customers": (
        "Find active customers whose name or email contains `query` (case-insensitive; an empty query lists "
        "the newest). Returns each customer's ID, name, email and creation time, newest first. At most 100 "
        "results (a larger `limit` is capped at 100); `has_more` says whether more match. Archived customers "
        "are not included." + _SCOPE_NOTE
    ),
    "get_customer": (
        "One customer by ID (`cus_...`): name, email, metadata, the amount it owes (its open invoices, per "
        "currency) and its 10 most recent invoices. An archived customer, or another organisation's ID, is "
        "reported as not found." + _SCOPE_NOTE
    ),
    "list_invoices": (
        "Invoices, newest first, optionally filtered by `status` (draft, open, paid, void), `customer_id` "
        "and `due_before` (an ISO date; due strictly before it). Each has its ID, number, customer, status, "
        "total (minor units, currency, formatted), due date and lifecycle times; line items are not "
        "included. At most 100 results (a larger `limit` is capped at 100); `has_more` says whether more "
        "match." + _SCOPE_NOTE
    ),
    "receivables_aging": (
        "Outstanding (open) invoice amounts by age in the buckets 0-30, 31-60, 61-90 and 90+ days past due, "
        "per currency, with invoice counts and the total outstanding. Age counts from the due date (not yet "
        "due is 0 days), or from finalization when an invoice has no due date. Draft, paid and void "
        "invoices are excluded; amounts in different currencies are never converted or added." + _SCOPE_NOTE
    ),
    "recent_audit_events": (
        "The most recent audit events, newest first, optionally only those with one `action` (such as "
        "customer.created): when, what, by whom (user or token), on which object, from which IP, with which "
        "request ID and result. At most 100 (a larger `limit` is capped at 100). A token of the operator "
        "organisation also sees the events of no organisation (failed sign-ins, refused unknown tokens). Needs "
        "a role that may read the audit log (admin or owner)." + _SCOPE_NOTE
    ),
    "recent_errors": (
        "Recent server errors (5xx answers and unhandled exceptions), newest first: time, request ID, route "
        "template, status, exception type and a message with credentials and personal data removed. At most "
        "100 (a larger `limit` is capped at 100); only the deployment's last 1,000 errors are kept. A token "
        "of the operator organisation sees the whole deployment; any other token sees only its own "
        "organisation's errors. Needs a role that may read errors (admin or owner). Read-only."
    ),
    "queue_depth": (
        "The depth of your organisation's outgoing work right now: the outbox backlog (events not yet turned "
        "into webhook deliveries); for webhook deliveries and for emails, how many are waiting (of which "
        "retrying after a failure), in flight (held by a worker), failed for good, and the age in seconds of "
        "the oldest pending one; and how many webhook endpoints are disabled. Counts only, no payloads or "
        "addresses; for the deliveries themselves use the REST API. Needs a role that may read webhooks "
        "(member, admin or owner). It cannot retry, redeliver or re-enable anything." + _SCOPE_NOTE
    ),
    "query_metrics": (
        "Run a PromQL query against the deployment's Prometheus: an instant query, or a range query over "
        f"the last `range_minutes` (at most {MAX_RANGE_S // 60}) every `step_s` seconds (at least "
        f"{MIN_STEP_S}, at most 500 points). Only Shipyard's own metrics (names starting shipyard_) can be "
        f"selected; at most {MAX_SERIES} series are returned (`truncated` says when more matched). Metrics "
        "that cover the whole deployment can be queried only with a token of the operator organisation; "
        "metrics with an organisation label are limited to the token's organisation. Needs a role that may "
        "read errors (admin or owner), and SHIPYARD_PROMETHEUS_URL. Read-only."
    ),
    "member_counts_by_role": (
        "How many members your organisation has in each role (owner, admin, member, viewer) and in total. "
        "Counts only: no names or addresses." + _SCOPE_NOTE
    ),
    "pending_invitations": (
        "Invitations not yet accepted or revoked, newest first: the invited email, the role offered, whether "
        "the link is still valid (pending) or has expired, and when it expires. Never the link itself. At "
        "most 100 (a larger `limit` is capped at 100); `has_more` says whether more exist. Needs a role that "
        "may manage members (admin or owner). It cannot invite, resend or revoke." + _SCOPE_NOTE
    ),
}

# The budget note is part of the description, so an agent knows before calling which tools count.
DESCRIPTIONS = {
    name: text + (_BUDGET_NOTE if name in EXPENSIVE_TOOLS else "") for name, text in _WHAT_EACH_RETURNS.items()
}


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL: refuse it as bad input rather than fail as a server error.
    if value is not None and "\x00" in value:
        msg = "must not contain NUL characters"
        raise ValueError(msg)
    return value


NoNul = AfterValidator(_no_nul)
Limit = Annotated[
    StrictInt, Field(ge=1, description="How many items to return (1 or more); above 100 returns 100."), WholeNumber
]
Text = Annotated[str, Field(max_length=200, description="Part of a name or email; empty lists the newest."), NoNul]
ObjectId = Annotated[str, Field(min_length=1, max_length=64, description="An ID such as cus_01J...."), NoNul]
CustomerIdFilter = Annotated[str | None, Field(max_length=64, description="Only this customer's invoices."), NoNul]
DueBefore = Annotated[date | None, IsoDateText, Field(description="ISO date; only invoices due strictly before it.")]
Action = Annotated[str | None, Field(max_length=64, description="e.g. customer.created"), NoNul]
# Tool arguments are checked as strictly as REST request bodies: no "10" or true for a number, no
# unknown argument silently ignored.
_STRICT_ARGUMENTS = ConfigDict(extra="forbid", strict=True)


def _cap(limit: int) -> int:
    return min(limit, MAX_LIMIT)


async def org_overview() -> Annotated[CallToolResult, OrgOverview]:
    """Tool: counts and amounts outstanding for the organisation."""

    async def body(session: AsyncSession, call: ToolCall) -> OrgOverview:
        return await service.org_overview(session, call.principal)

    return await answer("org_overview", (CUSTOMERS_READ, INVOICES_READ), body)


async def search_customers(query: Text = "", limit: Limit = 20) -> Annotated[CallToolResult, CustomerSearch]:
    """Tool: customers whose name or email contains `query`."""

    async def body(session: AsyncSession, call: ToolCall) -> CustomerSearch:
        return await service.search_customers(session, call.principal, query, _cap(limit))

    return await answer("search_customers", (CUSTOMERS_READ,), body)


async def get_customer(customer_id: ObjectId) -> Annotated[CallToolResult, CustomerDetail]:
    """Tool: one customer with its recent invoices."""

    async def body(session: AsyncSession, call: ToolCall) -> CustomerDetail:
        return await service.get_customer(session, call.principal, customer_id)

    return await answer("get_customer", (CUSTOMERS_READ, INVOICES_READ), body)


async def list_invoices(
    status: Literal["draft", "open", "paid", "void"] | None = None,
    customer_id: CustomerIdFilter = None,
    due_before: DueBefore = None,
    limit: Limit = 20,
) -> Annotated[CallToolResult, InvoiceList]:
    """Tool: invoices matching the filters."""

    async def body(session: AsyncSession, call: ToolCall) -> InvoiceList:
        return await service.list_invoices(
            session, call.principal, status=status, customer_id=customer_id, due_before=due_before, limit=_cap(limit)
        )

    return await answer("list_invoices", (INVOICES_READ,), body)


async def receivables_aging() -> Annotated[CallToolResult, ReceivablesAging]:
    """Tool: open amounts by age."""

    async def body(session: AsyncSession, call: ToolCall) -> ReceivablesAging:
        return await service.receivables_aging(session, call.principal, utcnow().date())

    return await answer("receivables_aging", (INVOICES_READ,), body)


async def recent_audit_events(action: Action = None, limit: Limit = 20) -> Annotated[CallToolResult, AuditEvents]:
    """Tool: the newest audit events."""

    async def body(session: AsyncSession, call: ToolCall) -> AuditEvents:
        operator_slug = error_service.operator_org(call.runtime.settings)
        return await service.recent_audit_events(session, call.principal, action or None, _cap(limit), operator_slug)

    return await answer("recent_audit_events", (AUDIT_READ,), body)


async def recent_errors(limit: Limit = 20) -> Annotated[CallToolResult, RecentErrors]:
    """Tool: the newest server errors the caller may see."""

    async def body(session: AsyncSession, call: ToolCall) -> RecentErrors:
        operator_slug = error_service.operator_org(call.runtime.settings)
        return await service.recent_errors(session, call.principal, operator_slug, _cap(limit))

    return await answer("recent_errors", (ERRORS_READ,), body)


async def queue_depth() -> Annotated[CallToolResult, QueueDepth]:
    """Tool: the organisation's webhook and email queues."""

    async def body(session: AsyncSession, call: ToolCall) -> QueueDepth:
        return await service.queue_depth(session, call.principal, utcnow())

    return await answer("queue_depth", (WEBHOOKS_READ,), body)


async def member_counts_by_role() -> Annotated[CallToolResult, MemberCounts]:
    """Tool: members per role."""

    async def body(session: AsyncSession, call: ToolCall) -> MemberCounts:
        return await service.member_counts_by_role(session, call.principal)

    return await answer("member_counts_by_role", (MEMBERS_READ,), body)


async def pending_invitations(limit: Limit = 20) -> Annotated[CallToolResult, PendingInvitations]:
    """Tool: the open invitations."""

    async def body(session: AsyncSession, call: ToolCall) -> PendingInvitations:
        return await service.pending_invitations(session, call.principal, _cap(limit), utcnow())

    return await answer("pending_invitations", (MEMBERS_WRITE,), body)


PromQL = Annotated[str, Field(min_length=1, max_length=1000, description="A PromQL expression."), NoNul]
RangeMinutes = Annotated[
    int | None, Field(ge=1, description="Minutes back from now for a range query; omit for an instant query.")
]
StepSeconds = Annotated[int, Field(ge=1, description="Seconds between the points of a range query.")]


async def query_metrics(
    query: PromQL, range_minutes: RangeMinutes = None, step_s: StepSeconds = 60
) -> Annotated[CallToolResult, MetricsQuery]:
    """Tool: a bounded PromQL query over Shipyard's own metrics."""

    async def body(session: AsyncSession, call: ToolCall) -> MetricsQuery:
        settings = call.runtime.settings
        operator = await error_service.is_operator(session, call.principal, error_service.operator_org(settings))
        return await run_query(
            settings.prometheus_url,
            query,
            organization_id=None if operator else call.principal.organization_id,
            range_minutes=range_minutes,
            step_s=step_s,
        )

    return await answer("query_metrics", (ERRORS_READ,), body)


TOOLS = (
    org_overview,
    search_customers,
    get_customer,
    list_invoices,
    receivables_aging,
    recent_audit_events,
    recent_errors,
    queue_depth,
    query_metrics,
    member_counts_by_role,
    pending_invitations,
)


def _strict(tool: Tool) -> Tool:
    """`tool` with an argument model that is strict and forbids unknown arguments, and publishes so."""
    lax = tool.fn_metadata.arg_model
    strict: type[ArgModelBase] = type(lax.__name__, (lax,), {"model_config": _STRICT_ARGUMENTS, "__module__": __name__})
    tool.fn_metadata.arg_model = strict
    tool.parameters = strict.model_json_schema(by_alias=True)
    return tool


def build_tools() -> list[Tool]:
    """Every tool, annotated read-only and closed-world, with strict arguments."""
    return [
        _strict(
            Tool.from_function(
                tool, description=DESCRIPTIONS[tool.__name__], annotations=READ_ONLY, structured_output=True
            )
        )
        for tool in TOOLS
    ]
