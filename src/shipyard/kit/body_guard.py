"""Reject oversized bodies (413), non-JSON bodies on JSON APIs (415) and duplicate JSON keys (422) early."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from shipyard.kit.asgi import header
from shipyard.kit.problems import ProblemError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MAX_KEY_SHOWN = 64


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


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
    return document


def _refuse_duplicate_keys(body: bytes) -> None:
    """Refuse a JSON body in which an object names a member twice; json.loads would keep the last silently.

    One extra parse of a body already in memory (microseconds for an API body). A body that is not JSON
    at all passes: FastAPI's parser reports it with the character at fault.
    """
    try:
        json.loads(body, object_pairs_hook=_unique_members)
    except _DuplicateKeyError as duplicate:
        key = duplicate.key if len(duplicate.key) <= _MAX_KEY_SHOWN else duplicate.key[:_MAX_KEY_SHOWN] + "…"
        raise ProblemError(
            422, "duplicate_json_key", f"The JSON body names the member '{key}' more than once in one object.", key=key
        ) from None
    except (ValueError, RecursionError):
        return  # Not JSON (JSONDecodeError and UnicodeDecodeError are ValueErrors): left to FastAPI's parser.


def _refuse_malformed(scope: Scope) -> None:
    if _has_nul(scope):
        # PostgreSQL cannot store NUL in text; refuse it at the edge on every engine alike.
        raise ProblemError(400, "invalid_character", "The URL contains a NUL character.")
    if _has_several_authorizations(scope):
        raise ProblemError(
            400, "duplicate_authorization", "Send one Authorization header; this request carries several."
        )


def _guarded_receive(receive: Receive, limit: int, *, check_json: bool) -> Receive:
    """Count the body as it arrives; with `check_json`, keep it to look for duplicate keys at its end."""
    received = 0
    chunks: list[bytes] = []

    async def guarded() -> Message:
        nonlocal received
        message = await receive()
        chunk = message.get("body", b"")
        received += len(chunk)
        # A chunked or lying client is cut off as soon as it crosses the limit.
        if received > limit:
            raise _too_large(limit)
        if check_json and message["type"] == "http.request":
            chunks.append(chunk)
            if not message.get("more_body", False):
                _refuse_duplicate_keys(b"".join(chunks))
        return message

    return guarded


class BodyGuardMiddleware:
    """Enforces `max_body_bytes` on every request and JSON bodies under `json_prefixes`."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, json_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.json_prefixes = json_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared size and type, then count what actually arrives."""
        if scope["type"] == "http":
            _refuse_malformed(scope)
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
        keeps_json = has_body and scope["path"].startswith(self.json_prefixes)
        await self.app(scope, _guarded_receive(receive, self.max_body_bytes, check_json=keeps_json), send)
