"""HTTP method semantics the router lacks: HEAD wherever GET works, OPTIONS with `Allow`, relative redirects.

FastAPI's routes accept exactly the methods they declare, so a GET route answered HEAD with 405 and
OPTIONS with 405, although RFC 9110 (§9.3.2, §9.3.7) expects both. Starlette's trailing-slash redirect
built an absolute `Location` from the `Host` header, which the client controls. These helpers keep
the routes as declared (and the OpenAPI document free of HEAD and OPTIONS operations) and add the
semantics around them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.routing import BaseRoute, Match, Mount

if TYPE_CHECKING:
    from collections.abc import Iterable

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_PROBE_SCOPE: dict[str, Any] = {"type": "http", "root_path": "", "headers": [], "query_string": b""}
# Characters a path keeps as they are when it is written back into a Location header (RFC 3986 pchar).
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _matches(routes: Iterable[BaseRoute], path: str, method: str) -> bool:
    probe = {**_PROBE_SCOPE, "path": path, "method": method}
    return any(route.matches(probe)[0] is Match.FULL for route in routes)


def _routes(app: Any) -> list[BaseRoute]:  # noqa: ANN401 - any Starlette app with a router
    # A Mount accepts every method and answers 405 itself, with its own Allow header.
    return [route for route in app.router.routes if not isinstance(route, Mount)]


def allowed_methods(app: Any, path: str) -> list[str]:  # noqa: ANN401 - any Starlette app with a router
    """Every method `path` answers: those its routes declare, HEAD with GET, and OPTIONS; [] for no route.

    Starlette's own Allow header names only the first route that matched the path, so a collection
    with GET and POST as separate routes would advertise GET alone (RFC 9110 §15.5.6 wants all).
    """
    routes = _routes(app)
    allowed = {method for method in _METHODS if _matches(routes, path, method)}
    if not allowed:
        return []
    if "GET" in allowed:
        allowed.add("HEAD")
    allowed.add("OPTIONS")
    return [method for method in _METHODS if method in allowed]


def slash_twin(app: Any, scope: Scope) -> str | None:  # noqa: ANN401 - any Starlette app with a router
    """A relative Location for the path with its trailing slash toggled, when a route answers that path.

    Mounts are left out: they match every path under their prefix, and answer their own 404s.

    Relative (RFC 9110 §10.2.2 allows it), so the Host header, which is not yet checked when routing
    fails, never reaches the answer. A path starting with `//` gets none: as a Location it would name
    another host.
    """
    path: str = scope["path"]
    if path == "/" or path.startswith("//"):
        return None
    twin = path.rstrip("/") if path.endswith("/") else f"{path}/"
    probe = {**_PROBE_SCOPE, "path": twin, "method": scope["method"]}
    if not any(route.matches(probe)[0] is not Match.NONE for route in _routes(app)):
        return None
    query: bytes = scope.get("query_string", b"")
    location = quote(twin, safe=_PATH_SAFE)
    return f"{location}?{query.decode('latin-1')}" if query else location


class MethodSemanticsMiddleware:
    """Answers HEAD like GET without the body, and OPTIONS with `Allow`, for routes that do not themselves.

    Only a HEAD or OPTIONS request pays for the route lookup; every other request passes untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Route HEAD to GET, answer OPTIONS; anything else goes straight through."""
        method = scope.get("method")
        if scope["type"] != "http" or method not in {"HEAD", "OPTIONS"}:
            await self.app(scope, receive, send)
            return
        routes = _routes(scope["app"])
        if _matches(routes, scope["path"], method):
            # A route that declares the method itself (the health checks' HEAD) answers it.
            await self.app(scope, receive, send)
        elif method == "HEAD" and _matches(routes, scope["path"], "GET"):
            await self._head(scope, receive, send)
        elif method == "OPTIONS" and (allowed := allowed_methods(scope["app"], scope["path"])):
            headers = [(b"allow", ", ".join(allowed).encode()), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        else:
            await self.app(scope, receive, send)

    async def _head(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                # The GET's headers (Content-Length and ETag included) describe what a GET would send.
                message = {**message, "body": b""}
            await send(message)

        # The router matches on the method, so the app gets a copy that says GET. The original stays HEAD:
        # the server reads it to send no body (uvicorn expects none), the access line reports it.
        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, without_body)
        finally:
            if "route" in as_get:
                scope["route"] = as_get["route"]
