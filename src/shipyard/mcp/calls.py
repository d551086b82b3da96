"""Every tool call's boundary: who is calling, a read-only session, the audit event and error reports.

`ToolCallGuard` is MCP middleware: it runs around every `tools/call` message (before the SDK even
validates the arguments), resolves the Principal, installs the request context, and audits the call
as `mcp.tool_called`. Tool bodies then run through `answer`, which checks the caller's role, opens
a read-only session that is never committed, and records unexpected failures as error reports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit import service as audit_service
from shipyard.error_reports.recorder import record_error
from shipyard.identity.authenticator import AuthFailure
from shipyard.identity.principal import Principal
from shipyard.identity.scopes import ROLE_SCOPES
from shipyard.kit.context import (
    RequestContext,
    accept_request_id,
    new_request_id,
    reset_request_context,
    set_request_context,
)
from shipyard.kit.db import Database
from shipyard.kit.logging import get_logger
from shipyard.kit.redaction import scrub
from shipyard.mcp import budget
from shipyard.mcp.auth import MCP_READ, Credentials, Runtime, RuntimeProvider, lacks_mcp_read, refuse
from shipyard.mcp.schemas import Answer

log = get_logger("shipyard.mcp")
AUDIT_ACTION = "mcp.tool_called"
_MAX_ARGUMENTS = 10
_MAX_ARGUMENT_TEXT = 200


@dataclass(frozen=True, slots=True)
class ToolCall:
    """The authenticated call being served."""

    principal: Principal
    runtime: Runtime
    request_context: RequestContext


_current: ContextVar[ToolCall | None] = ContextVar("shipyard_mcp_tool_call", default=None)


def current_call() -> ToolCall:
    """The call being served; refuses (fails closed) when the guard did not run."""
    call = _current.get()
    if call is None:
        raise ToolError("This call was not authenticated.")
    return call


def _request_context(request: Any) -> RequestContext:  # noqa: ANN401 - the SDK types the transport request Any
    if request is None:
        # stdio: one process per client, no HTTP request; every call gets its own ID.
        return RequestContext(request_id=new_request_id(), ip=None, user_agent="shipyard-mcp-stdio")
    state = request.scope.get("state") or {}
    context = state.get("request_context")
    if isinstance(context, RequestContext):
        return context
    # Mounted without Shipyard's request-context middleware: derive the same fields.
    client = request.scope.get("client")
    return RequestContext(
        request_id=accept_request_id(request.headers.get("x-request-id")),
        ip=client[0] if client else None,
        user_agent=request.headers.get("user-agent"),
    )


def _printable(value: object, limit: int) -> str:
    # Audit details are JSON(B): no NUL or other control characters, no credentials, bounded size.
    text = str(scrub(str(value)))[:limit]
    return "".join(char if char.isprintable() else "?" for char in text)


def _argument_summary(arguments: object) -> dict[str, str]:
    if not isinstance(arguments, dict):
        return {"_type": type(arguments).__name__}
    items = list(arguments.items())[:_MAX_ARGUMENTS]
    return {_printable(key, 40): _printable(value, _MAX_ARGUMENT_TEXT) for key, value in items}


def _is_error(result: HandlerResult) -> bool:
    if isinstance(result, CallToolResult):
        return bool(result.is_error)
    if isinstance(result, dict):
        return bool(result.get("isError") or result.get("is_error"))
    return False


def refused(message: str) -> CallToolResult:
    """A tool result that says the call was refused."""
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


class ToolCallGuard:
    """MCP middleware: authentication, request context and audit for every `tools/call`."""

    def __init__(self, runtime: RuntimeProvider, credentials: Credentials) -> None:
        self.runtime = runtime
        self.credentials = credentials

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        """Serve one inbound message; only `tools/call` is guarded (listing tools reveals no data)."""
        if ctx.method != "tools/call":
            return await call_next(ctx)
        runtime = self.runtime()
        params = ctx.params or {}
        tool = _printable(params.get("name", ""), 64)
        arguments = _argument_summary(params.get("arguments") or {})
        context = _request_context(ctx.request)
        context_token = set_request_context(context)
        try:
            outcome = await self.credentials.resolve(ctx.request, runtime)
            if isinstance(outcome, AuthFailure):
                await refuse(runtime, outcome)
                return refused("The token is malformed, unknown, expired or revoked.")
            if failure := lacks_mcp_read(outcome):
                await refuse(runtime, failure)
                return refused(f"This token lacks the scope {MCP_READ}.")
            if ctx.request is not None:
                # The access log and error reports name the caller, as for REST requests.
                ctx.request.scope.setdefault("state", {})["principal"] = outcome
            call_token = _current.set(ToolCall(outcome, runtime, context))
            try:
                result = await call_next(ctx)
            except Exception:
                await _audit(runtime, outcome, tool, arguments, failed=True)
                raise
            finally:
                _current.reset(call_token)
            await _audit(runtime, outcome, tool, arguments, failed=_is_error(result))
            return result
        finally:
            reset_request_context(context_token)


async def _audit(runtime: Runtime, principal: Principal, tool: str, arguments: dict[str, str], *, failed: bool) -> None:
    # Its own short transaction: the tool's session is read-only and never committed.
    async with runtime.database.writer() as session:
        audit_service.record(
            session,
            principal,
            AUDIT_ACTION,
            target_type="mcp_tool",
            target_id=tool[:40],
            result=audit_service.FAILURE if failed else audit_service.SUCCESS,
            details={"tool": tool, "arguments": arguments},
        )
        await session.commit()


@asynccontextmanager
async def read_only_session(database: Database) -> AsyncIterator[AsyncSession]:
    """A reader session that cannot write: READ ONLY on PostgreSQL, and never committed anywhere."""
    async with database.reader() as session:
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text("SET TRANSACTION READ ONLY"))
        try:
            yield session
        finally:
            await session.rollback()


Body = Callable[[AsyncSession, ToolCall], Awaitable[Answer]]


def _missing_grants(principal: Principal, grants: tuple[str, ...]) -> list[str]:
    # `mcp:read` lets a token read through MCP what its creator's role may read, and no more: a
    # viewer's token cannot read the audit log here any more than through the REST API.
    allowed = ROLE_SCOPES.get(principal.role, frozenset())
    return [grant for grant in grants if grant not in allowed]


async def answer(tool: str, grants: tuple[str, ...], body: Body) -> CallToolResult:
    """Run a tool body for the current call and render its answer (structured and as text).

    An expensive tool first takes one call from the token's budget (mcp/budget.py).
    """
    call = current_call()
    if missing := _missing_grants(call.principal, grants):
        raise ToolError(f"The role '{call.principal.role}' may not read this; it needs {', '.join(missing)}.")
    if refusal := await budget.spend(call.runtime.rate_limiter, call.runtime.settings, call.principal, tool):
        return refusal
    try:
        async with read_only_session(call.runtime.database) as session:
            result = await body(session, call)
    except ToolError:
        raise
    except Exception as exc:
        log.exception("mcp_tool_failed", tool=tool, exc_type=type(exc).__name__)
        await record_error(
            call.runtime.database,
            status=500,
            route=f"mcp:{tool}",
            method="TOOL",
            request_id=call.request_context.request_id,
            exc=exc,
            organization_id=call.principal.organization_id,
        )
        request_id = call.request_context.request_id
        raise ToolError(f"The tool failed on the server; the error was recorded with request ID {request_id}.") from exc
    return CallToolResult(
        content=[TextContent(type="text", text=result.summary())],
        structured_content=result.model_dump(mode="json"),
    )
