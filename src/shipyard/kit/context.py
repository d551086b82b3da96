"""Per-request context (request ID, client IP, user agent), carried in a contextvar."""

from __future__ import annotations

import re
import secrets
from contextvars import ContextVar
from dataclasses import dataclass

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@dataclass(frozen=True, slots=True)
class RequestContext:
    """What every log line, problem and audit event says about the request that caused it."""

    request_id: str
    ip: str | None = None
    user_agent: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("shipyard_request_context", default=None)


def current_request_context() -> RequestContext | None:
    """The context of the request (or job) being handled, if any."""
    return _current.get()


def set_request_context(context: RequestContext | None) -> object:
    """Install `context`; returns a token for `reset_request_context`."""
    return _current.set(context)


def reset_request_context(token: object) -> None:
    """Restore the context that was current before `set_request_context`."""
    _current.reset(token)  # type: ignore[arg-type]  # the token came from set_request_context


def current_request_id() -> str | None:
    """The current request ID, if any."""
    context = _current.get()
    return context.request_id if context else None


def new_request_id() -> str:
    """A fresh, URL-safe request ID."""
    return secrets.token_hex(16)


def accept_request_id(candidate: str | None) -> str:
    """Keep a well-formed incoming ID (so callers can correlate), otherwise make a new one."""
    if candidate and REQUEST_ID_PATTERN.fullmatch(candidate):
        return candidate
    return new_request_id()
