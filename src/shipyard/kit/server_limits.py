"""Per-connection limits for the embedded server (`shipyard serve`): header size, header and body time.

uvicorn bounds only the idle time between keep-alive requests. A connection that never sends a
request, a request line and headers trickled a byte at a time, a megabyte of headers, or a body sent
at one byte a second all hold a connection (and, for the body, an application task) for as long as
the client likes. Behind the shipped Caddy its own timeouts cover this; `shipyard serve` is also run
bare, so the protocol itself enforces them:

- headers: the request line and headers must arrive within `header_timeout_s` of the connection
  opening (or of the request's first byte, on a kept-alive connection): 408 `request_timeout` (or a
  silent close when nothing arrived at all), and must fit in `max_header_bytes`: 431
  `headers_too_large`;
- body: a declared or chunked body must be complete within `body_timeout_s` of the headers: 408
  `request_timeout` when the application has not answered yet, then the connection closes and the
  application's `receive` reports a disconnect.

The refusals are problem+json like every other, without a request ID: no request exists yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shipyard.kit.problems import PROBLEM_CONTENT_TYPE, problem_body

if TYPE_CHECKING:
    from asyncio import TimerHandle, Transport
    from collections.abc import Callable


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """The bounds one connection lives under."""

    header_timeout_s: float
    body_timeout_s: float
    max_header_bytes: int


def _problem_response(status: int, code: str, detail: str, **extensions: Any) -> bytes:  # noqa: ANN401 - JSON values
    """A whole HTTP/1.1 problem+json response that closes the connection (written before any app runs)."""
    body = problem_body(status, code, detail, **extensions)
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        f"content-type: {PROBLEM_CONTENT_TYPE}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def _timeout_response(limits: ServerLimits) -> bytes:
    return _problem_response(
        408,
        "request_timeout",
        f"The request line and headers must arrive within {limits.header_timeout_s:g} s, "
        f"and the body within {limits.body_timeout_s:g} s after them.",
    )


def _headers_too_large_response(limits: ServerLimits) -> bytes:
    return _problem_response(
        431,
        "headers_too_large",
        f"The request line and headers exceed the limit of {limits.max_header_bytes} bytes.",
        limit_bytes=limits.max_header_bytes,
    )


class _HeadersTooLargeError(Exception):
    """Raised from a parser callback to stop parsing; httptools reports it as a parser error."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header size, header time and body time bounded."""

    limits: ServerLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - uvicorn's own signature
        super().__init__(*args, **kwargs)
        self._deadline: TimerHandle | None = None
        self._header_bytes = 0
        self._headers_too_large = False
        self._received_any = False

    # --- the two deadlines --------------------------------------------------------------------------

    def _arm(self, seconds: float, handler: Callable[[], None]) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, handler)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _headers_timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        # A connection that never sent a byte gets no answer; a started request learns why it ends.
        if self._received_any:
            self.transport.write(_timeout_response(self.limits))
        self.transport.close()

    def _body_timed_out(self) -> None:
        self._deadline = None
        cycle = self.cycle
        if self.transport.is_closing() or cycle is None or not cycle.more_body:
            return
        if not cycle.response_started:
            self.transport.write(_timeout_response(self.limits))
        # The application's later sends are dropped, and its next `receive` is a disconnect.
        cycle.disconnected = True
        cycle.message_event.set()
        self.transport.close()

    # --- uvicorn's protocol and parser callbacks ------------------------------------------------------

    def connection_made(self, transport: Transport) -> None:  # type: ignore[override]  # uvicorn narrows it too
        """Start the header deadline as soon as the connection opens."""
        super().connection_made(transport)
        self._arm(self.limits.header_timeout_s, self._headers_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        """Cancel any deadline left."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Note that the client sent something (a timeout then answers 408 instead of closing)."""
        self._received_any = True
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        """Answer 431 when the parser stopped because the headers were too large."""
        if self._headers_too_large:
            self._disarm()
            self.transport.write(_headers_too_large_response(self.limits))
            self.transport.close()
            return
        super().send_400_response(msg)

    def on_message_begin(self) -> None:
        """A new request on a kept-alive connection gets its own header deadline."""
        super().on_message_begin()
        self._header_bytes = 0
        if self._deadline is None:
            self._arm(self.limits.header_timeout_s, self._headers_timed_out)

    def _count_header_bytes(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_header_bytes:
            self._headers_too_large = True
            raise _HeadersTooLargeError

    def on_url(self, url: bytes) -> None:
        """Count the request target against the header limit."""
        self._count_header_bytes(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count each header (name, value and the `: ` and CRLF around them) against the limit."""
        self._count_header_bytes(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """Headers in time: the body's deadline starts now."""
        self._arm(self.limits.body_timeout_s, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The whole request arrived: nothing more to wait for until the next one begins."""
        self._disarm()
        super().on_message_complete()


def limited_protocol(limits: ServerLimits) -> type[LimitedHttpToolsProtocol]:
    """A protocol class for `uvicorn.run(http=...)`, bound to `limits`."""
    return type("LimitedHttpToolsProtocol", (LimitedHttpToolsProtocol,), {"limits": limits})
