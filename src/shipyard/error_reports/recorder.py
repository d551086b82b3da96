"""Recording a server error from the edge of the app: never raises, in its own short transactions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.routing import Match

from shipyard.error_reports import service
from shipyard.error_reports.service import MAX_ROUTE, scrub_message
from shipyard.kit.context import RequestContext, current_request_context
from shipyard.kit.logging import get_logger
from shipyard.kit.metrics import UNMATCHED_ROUTE

if TYPE_CHECKING:
    from starlette.types import Scope

    from shipyard.kit.db import Database

log = get_logger("shipyard.error_reports")
_RECORDED = "error_reported"


async def record_error(
    database: Database,
    *,
    status: int,
    route: str,
    method: str | None,
    request_id: str | None,
    exc: BaseException | None,
    organization_id: str | None,
) -> None:
    """Store one error report and prune to the last 1,000. Never raises: a failure is logged and dropped."""
    try:
        async with database.writer() as session:
            service.record(
                session,
                status=status,
                route=route,
                method=method,
                request_id=request_id,
                exc=exc,
                organization_id=organization_id,
            )
            await session.commit()
    except Exception as failure:  # noqa: BLE001 - reporting an error must never cause another
        log.warning("error_report_not_recorded", exc_type=type(failure).__name__, route=route)
        return
    try:
        # Separate from the insert, so that two pruning writers that collide on PostgreSQL lose a
        # prune (the next insert prunes again), never a report.
        async with database.writer() as session:
            await service.prune(session)
            await session.commit()
    except Exception as failure:  # noqa: BLE001 - same: the report is stored; pruning can wait
        log.warning("error_report_prune_failed", exc_type=type(failure).__name__)


async def record_server_error(app_state: Any, scope: Scope, status: int, exc: BaseException | None) -> None:  # noqa: ANN401 - Starlette's State is untyped
    """Record a 5xx answer or an unhandled exception for the request in `scope`; never raises.

    Call it from the outermost middleware after the inner app returned or raised, so that the
    request's own transaction is already closed. A request is recorded once, however often this is
    called for it.
    """
    try:
        state: dict[str, Any] = scope.setdefault("state", {})
        if state.get(_RECORDED):
            return
        state[_RECORDED] = True
        context = state.get("request_context")
        if not isinstance(context, RequestContext):
            context = current_request_context()
        principal = state.get("principal") or _mcp_principal(scope)
        await record_error(
            app_state.database,
            status=status,
            route=_route_of(scope),
            method=scope.get("method"),
            request_id=context.request_id if context else None,
            exc=exc,
            organization_id=getattr(principal, "organization_id", None),
        )
    except Exception as failure:  # noqa: BLE001 - see record_error
        log.warning("error_report_not_recorded", exc_type=type(failure).__name__)


def _route_of(scope: Scope) -> str:
    """The route template; for an error raised before routing (in a middleware), the route that would match.

    A path no route matches is recorded as sent, scrubbed of credentials: it is what the operator needs
    to find the request, and the table keeps the last 1,000 errors only.
    """
    matched = getattr(scope.get("route"), "path", None)
    if isinstance(matched, str):
        return matched
    path = scope.get("path")
    if not isinstance(path, str) or not path:
        return UNMATCHED_ROUTE
    probe = {"type": "http", "path": path, "root_path": "", "method": scope.get("method", "GET"), "headers": []}
    for route in getattr(getattr(scope.get("app"), "router", None), "routes", ()):
        match, _ = route.matches(probe)
        template = getattr(route, "path", None)
        if match is not Match.NONE and isinstance(template, str):
            return template
    return scrub_message(path)[:MAX_ROUTE]


def _mcp_principal(scope: Scope) -> object:
    """The principal the MCP SDK's bearer middleware verified (it keeps it in `scope["user"]`), if any."""
    access_token = getattr(scope.get("user"), "access_token", None)
    return getattr(access_token, "principal", None)
