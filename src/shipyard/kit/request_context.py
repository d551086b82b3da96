"""The outermost middleware: request IDs, the access log, HTTP metrics and the last-resort 500."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from shipyard.kit.asgi import header, send_problem
from shipyard.kit.context import RequestContext, accept_request_id, reset_request_context, set_request_context
from shipyard.kit.logging import bind_request_id, get_logger, unbind_request_id
from shipyard.kit.metrics import UNMATCHED_ROUTE, HttpMetrics
from shipyard.kit.problems import AccessGate, ProblemError, access_refusal_first, problem_body

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    # Called for every 5xx answer and every unhandled exception (the error-reports table); must not raise.
    ServerErrorHook = Callable[[Scope, int, BaseException | None], Awaitable[None]]

# The access line's keys whose values `_finish` builds from code alone, which redaction therefore need
# not read (see `get_logger`): the event and result literals, numbers, the route template (the matched
# route's path as written in code, or a constant; never the request's path), IDs from our own
# records, and the client IP (the socket's peer, or the address ProxyHeadersMiddleware parsed with
# `ipaddress` from the one trusted hop: never free text). Not trusted, so scrubbed as on any line:
# the method and the request ID, both request input (an HTTP method token may spell one of our
# tokens, `shp_..._...`; a well-formed request ID may be `password:...`). Nothing else may be logged
# under these keys on this logger.
_ACCESS_TRUSTED_KEYS = frozenset(
    {"event", "route", "status", "duration_ms", "org", "user_id", "token_id", "result", "client_ip"}
)
log = get_logger("shipyard.access", trusted_keys=_ACCESS_TRUSTED_KEYS)
error_log = get_logger("shipyard.errors")

HTTP_CLIENT_ERROR = 400
HTTP_SERVER_ERROR = 500


class RequestContextMiddleware:
    """Pure ASGI (BaseHTTPMiddleware is slow and breaks contextvars); one per app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics | None,
        access_log: bool,
        on_server_error: ServerErrorHook | None = None,
        gate: AccessGate | None = None,
    ) -> None:
        self.app = app
        self.gate = gate
        self.metrics = metrics
        self.access_log = access_log
        self.on_server_error = on_server_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one request; non-HTTP scopes pass straight through."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = accept_request_id(header(scope, b"x-request-id"))
        client = scope.get("client")
        context = RequestContext(
            request_id=request_id,
            ip=client[0] if client else None,
            user_agent=header(scope, b"user-agent"),
        )
        scope.setdefault("state", {})["request_context"] = context
        token = set_request_context(context)
        log_token = bind_request_id(request_id)
        exchange = _Exchange(send, (b"x-request-id", request_id.encode()))
        if self.metrics:
            self.metrics.in_flight.inc()
        try:
            await self._run(scope, receive, exchange)
        finally:
            if self.metrics:
                self.metrics.in_flight.dec()
            self._finish(scope, exchange.status, time.perf_counter() - started, context.ip)
            unbind_request_id(log_token)
            reset_request_context(token)

    async def _run(self, scope: Scope, receive: Receive, exchange: _Exchange) -> None:
        try:
            try:
                await self.app(scope, receive, exchange.send)
            except ProblemError as refusal:
                # The 401 or 403 the caller is owed comes before an input refusal. Inside the outer try,
                # so that a failure while authenticating still gets the last-resort 500 below.
                raise await access_refusal_first(self.gate, scope, refusal.status) or refusal from None
            if exchange.status >= HTTP_SERVER_ERROR and self.on_server_error is not None:
                await self.on_server_error(scope, exchange.status, None)
        except ProblemError as exc:
            # Raised by middleware that runs outside FastAPI's exception handlers (body limits).
            if not exchange.started:
                extra = [(k.lower().encode(), v.encode()) for k, v in exc.headers.items()]
                body = problem_body(exc.status, exc.code, str(exc.detail), title=exc.title, **exc.extensions)
                await exchange.answer(exc.status, body, extra)
        except Exception as exc:  # noqa: BLE001 - the last resort: answer 500, never leak the exception
            error_log.exception("unhandled_exception", exc_type=type(exc).__name__, route=_route(scope))
            # After the response started (a background task failed, say) the client got that status;
            # the access log and metrics record what was sent, the error log what went wrong.
            if not exchange.started:
                body = problem_body(500, "internal_error", "The server failed to answer this request; retry later.")
                await exchange.answer(HTTP_SERVER_ERROR, body)
            if self.on_server_error is not None:
                await self.on_server_error(scope, exchange.status, exc)

    def _finish(self, scope: Scope, status: int, elapsed: float, client_ip: str | None) -> None:
        route = _route(scope)
        if self.metrics:
            self.metrics.observe_request(scope["method"], route, status, elapsed)
        if self.access_log:
            principal: Any = scope.get("state", {}).get("principal")
            result = (
                "ok" if status < HTTP_CLIENT_ERROR else "client_error" if status < HTTP_SERVER_ERROR else "server_error"
            )
            log.info(
                "request",
                method=scope["method"],
                route=route,
                client_ip=client_ip,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
                org=getattr(principal, "organization_id", None),
                user_id=getattr(principal, "user_id", None),
                token_id=getattr(principal, "token_id", None),
                result=result,
            )


class _Exchange:
    """One response on its way out: adds the request ID and remembers the status actually sent."""

    __slots__ = ("_send", "request_id_header", "started", "status")

    def __init__(self, send: Send, request_id_header: tuple[bytes, bytes]) -> None:
        self._send = send
        self.request_id_header = request_id_header
        # Until a response starts, an escaping exception means the client is owed a 500.
        self.status = HTTP_SERVER_ERROR
        self.started = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.started = True
            message["headers"] = [*message.get("headers", []), self.request_id_header]
        await self._send(message)

    async def answer(self, status: int, problem: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        """Send a rendered problem as the whole response."""
        self.status = status
        self.started = True
        await send_problem(self._send, status, problem, [*(extra or []), self.request_id_header])


def _route(scope: Scope) -> str:
    # The router records the matched route in the scope; an unmatched path gets one fixed label so
    # that scanning random URLs cannot create unbounded metric series.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE
