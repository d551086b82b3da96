"""Building the MCP server from settings, and mounting it in the FastAPI app at `/mcp`.

The HTTP transport is stateless with JSON responses: any gunicorn worker can answer any request, so
no session has to stick to one process, and the tools never need to stream or call the client back.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

from mcp.server import MCPServer
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.routing import Route

from shipyard.mcp.auth import MCP_READ, Credentials, HttpCredentials, Runtime, RuntimeProvider, ShipyardTokenVerifier
from shipyard.mcp.calls import ToolCallGuard
from shipyard.mcp.tools import build_tools
from shipyard.settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.types import ASGIApp, Receive, Scope, Send

MCP_PATH = "/mcp"
INSTRUCTIONS = (
    "Read-only access to one Shipyard organisation: customers, invoices, receivables, its audit log, "
    "recent server errors and the depth of its webhook and email queues. Every tool is scoped to the "
    "organisation of the API token in use, and every call is audited. Money is integer minor units plus "
    "an ISO 4217 currency, with a formatted string. "
    "Nothing here can create, change or delete anything."
)
_LOOPBACK_HOSTS = ("127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost", "[::1]")
_LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """DNS-rebinding protection: the Host and Origin values `/mcp` accepts (others get 421 and 403).

    `SHIPYARD_MCP_ALLOWED_HOSTS` / `SHIPYARD_MCP_ALLOWED_ORIGINS` (JSON lists) replace the defaults:
    the host and origin of `SHIPYARD_PUBLIC_URL`, plus loopback outside production.
    """
    # getattr: these settings are declared in settings.py by the platform core.
    hosts = list(getattr(settings, "mcp_allowed_hosts", None) or [])
    origins = list(getattr(settings, "mcp_allowed_origins", None) or [])
    public = urlsplit(settings.public_url)
    loopback = not settings.is_production
    if not hosts:
        hosts = _unique([public.netloc, *(_LOOPBACK_HOSTS if loopback else ())])
    if not origins:
        origins = _unique([f"{public.scheme}://{public.netloc}", *(_LOOPBACK_ORIGINS if loopback else ())])
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def resource_url(settings: Settings) -> str:
    """The MCP endpoint's public URL: the protected resource's identifier."""
    return settings.public_url.rstrip("/") + MCP_PATH


def auth_settings(settings: Settings) -> AuthSettings:
    """Resource-server settings: `mcp:read` is required, and RFC 9728 metadata names Shipyard as the issuer.

    Tokens are Shipyard API tokens (created in the app or with `shipyard tokens create`), not OAuth
    tokens bound to a resource, so the verifier checks them itself (`validate_token_resource=False`).
    """
    return AuthSettings(
        issuer_url=AnyHttpUrl(settings.public_url),
        resource_server_url=AnyHttpUrl(resource_url(settings)),
        required_scopes=[MCP_READ],
        validate_token_resource=False,
    )


def create_mcp_server(
    runtime: RuntimeProvider, credentials: Credentials, *, auth: AuthSettings | None = None
) -> MCPServer:
    """The MCP server with every tool; `auth` turns on bearer-token verification (HTTP)."""
    server: MCPServer = MCPServer(
        "shipyard",
        title="Shipyard (read-only)",
        instructions=INSTRUCTIONS,
        version=version("shipyard"),
        token_verifier=ShipyardTokenVerifier(runtime) if auth else None,
        auth=auth,
        middleware=[ToolCallGuard(runtime, credentials)],
        tools=build_tools(),
    )
    return server


class _InHostApp:
    """Runs the SDK's Starlette app as an endpoint of ours, then hands the scope back.

    Starlette sets `scope["app"]` to itself on entry. The scope dict is shared with our outer
    middleware, which must see the FastAPI app (and its state) again once the inner app is done.

    The SDK app's middleware stack runs without its outermost layer, Starlette's `ServerErrorMiddleware`:
    that layer answers an exception with a plain-text 500 before re-raising it, so the response had
    started when the exception reached `RequestContextMiddleware`, which could then neither answer with
    an `internal_error` problem nor record the exception itself. Without it, an exception raised in the
    SDK (its bearer middleware, say) goes up to our middleware like any endpoint's.
    """

    def __init__(self, app: Starlette, path: str) -> None:
        self.app = app
        stack = app.build_middleware_stack()
        self._stack: ASGIApp = stack.app if isinstance(stack, ServerErrorMiddleware) else stack
        self.route = Route(path, endpoint=self, include_in_schema=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # FastAPI's router records the matched route only for its own routes: without this, the access
        # log, the metrics and the error reports would label every MCP request `<unmatched>`.
        scope["route"] = self.route
        host = scope.get("app")
        scope["app"] = self.app  # what Starlette.__call__ does before running the stack
        try:
            await self._stack(scope, receive, send)
        finally:
            if host is not None:
                scope["app"] = host


def mount_mcp(app: FastAPI, settings: Settings) -> MCPServer:
    """Serve MCP at `/mcp` and its protected-resource metadata; the host lifespan must run the session manager.

    Both routes are plain routes of the app (not a mount), so they pass through all of Shipyard's
    middleware: request IDs, the access log, metrics, body limits and error reports.
    """
    if getattr(app.state, "mcp", None) is not None:
        msg = "MCP is already mounted on this app"
        raise RuntimeError(msg)

    def runtime() -> Runtime:
        return cast("Runtime", app.state)  # database and authenticator are set by the lifespan

    server = create_mcp_server(runtime, HttpCredentials(), auth=auth_settings(settings))
    sdk_app = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=True,
        transport_security=transport_security(settings),
    )
    metadata_path = urlsplit(str(build_resource_metadata_url(AnyHttpUrl(resource_url(settings))))).path
    for path in (MCP_PATH, metadata_path):
        app.router.routes.append(_InHostApp(sdk_app, path).route)
    app.state.mcp = server
    return server
