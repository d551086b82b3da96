"""One run of a safe request inside the unit of work, with the response's send handled in one step.

A read's response used to pass through three nested send wrappers (the retry's bookkeeping, the
commit before the first byte, the no-store mark for secret-bearing routes), three coroutine calls per
message: about a twentieth of a GET by ID's CPU. `ReadAttempt.send` does the common case (no write
deferred by the endpoint) itself, in the order the wrappers did it; a response with a deferred write
goes through the same `final_write.deferring_send` as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.kit import final_write
from shipyard.kit.secret_response import route_returns_secret

if TYPE_CHECKING:
    from starlette.types import Message, Receive, Scope, Send

    from shipyard.kit.unit_of_work import SessionHolder

CLIENT_ERROR = 400


def with_no_store_if_secret(scope: Scope, message: Message) -> Message:
    """The response start, marked `Cache-Control: no-store` when its route declares a secret-bearing body.

    The mark is what the unit of work's `_replayable` withholds on, so the model's declaration
    (kit/secret_response.py) alone keeps the secret out of caches and out of the idempotency store.
    """
    if message["status"] >= CLIENT_ERROR or not route_returns_secret(scope):
        return message
    headers = [(name, value) for name, value in message.get("headers", []) if name != b"cache-control"]
    return {**message, "headers": [*headers, (b"cache-control", b"no-store")]}


def no_store_for_secrets(scope: Scope, send: Send) -> Send:
    """`send`, with `with_no_store_if_secret` applied to the response start."""

    async def marked(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = with_no_store_if_secret(scope, message)
        await send(message)

    return marked


class ReadAttempt:
    """Wraps one run of a safe request: whether its response started, and what it read of the body."""

    __slots__ = ("_chunks", "_deferring", "_holder", "_receive", "_scope", "_send", "read_whole_body", "started")

    def __init__(self, scope: Scope, receive: Receive, send: Send, holder: SessionHolder) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self._holder = holder
        self._chunks: list[bytes] = []
        # Set when the endpoint deferred a write: the rest of the response goes through it.
        self._deferring: Send | None = None
        self.read_whole_body = False
        self.started = False

    @property
    def body(self) -> bytes:
        """The body read so far."""
        return b"".join(self._chunks)

    @property
    def partly_read(self) -> bool:
        """True when part of the body was read: it cannot be handed to a second run."""
        return bool(self._chunks) and not self.read_whole_body

    async def receive(self) -> Message:
        """The next request message, remembering the body's chunks for a second run."""
        message = await self._receive()
        if message["type"] == "http.request":
            self._chunks.append(message.get("body", b""))
            self.read_whole_body = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        """Send a response message, ending the unit of work at the response's start."""
        if self._deferring is not None:
            await self._deferring(message)
            return
        if message["type"] == "http.response.start":
            self.started = True
            succeeded = message["status"] < CLIENT_ERROR
            if succeeded and final_write.pending(self._holder.session) is not None:
                holder = self._holder
                self._deferring = final_write.deferring_send(
                    no_store_for_secrets(self._scope, self._send), lambda: holder.session, self.finish
                )
                await self._deferring(message)
                return
            await self.finish(succeeded)
            message = with_no_store_if_secret(self._scope, message)
        await self._send(message)

    async def finish(self, commit: bool) -> None:
        """Commit (or roll back) before the first byte leaves, then hand the connection back to the pool."""
        await self._holder.finish(commit=commit)
        await self._holder.close()
