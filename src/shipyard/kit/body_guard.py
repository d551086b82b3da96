"""Reject oversized bodies (413) and non-JSON bodies on JSON APIs (415) before any work is done."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.kit.asgi import header
from shipyard.kit.problems import ProblemError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _too_large(limit: int) -> ProblemError:
    return ProblemError(
        413, "request_too_large", f"The request body exceeds the limit of {limit} bytes.", limit_bytes=limit
    )


def _is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _has_nul(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    return "\x00" in scope["path"] or b"%00" in query or b"\x00" in query


def _has_several_authorizations(scope: Scope) -> bool:
    # Authorization is a singleton field (RFC 9110 §11.6.2). Which of two credentials would count
    # depends on who reads them (the first here, maybe the last in a proxy or the MCP SDK): refuse both.
    return sum(1 for name, _ in scope["headers"] if name == b"authorization") > 1


class BodyGuardMiddleware:
    """Enforces `max_body_bytes` on every request and JSON bodies under `json_prefixes`."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, json_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.json_prefixes = json_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared size and type, then count what actually arrives."""
        if scope["type"] == "http" and _has_nul(scope):
            # PostgreSQL cannot store NUL in text; refuse it at the edge on every engine alike.
            raise ProblemError(400, "invalid_character", "The URL contains a NUL character.")
        if scope["type"] == "http" and _has_several_authorizations(scope):
            raise ProblemError(
                400, "duplicate_authorization", "Send one Authorization header; this request carries several."
            )
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        length_header = header(scope, b"content-length")
        # isdigit() alone accepts digits such as "²" that int() refuses.
        declared = int(length_header) if length_header and length_header.isascii() and length_header.isdigit() else None
        if declared is not None and declared > self.max_body_bytes:
            raise _too_large(self.max_body_bytes)
        # Without a usable Content-Length a body may still follow; the counting below enforces the limit.
        unknown = declared is None and (length_header is not None or header(scope, b"transfer-encoding") is not None)
        has_body = unknown or bool(declared)
        if has_body and scope["path"].startswith(self.json_prefixes):
            content_type = header(scope, b"content-type") or ""
            if not _is_json(content_type):
                raise ProblemError(
                    415,
                    "unsupported_media_type",
                    "Send the request body as JSON with 'Content-Type: application/json'.",
                    headers={"Accept-Post": "application/json"},
                )
        limit = self.max_body_bytes
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            # A chunked or lying client is cut off as soon as it crosses the limit.
            if received > limit:
                raise _too_large(limit)
            return message

        await self.app(scope, counting_receive, send)
