"""A write run as the request transaction's last statement, whose result completes the response.

Some values a response carries exist only once a write that locks something shared has run: an
invoice's number is taken under its organisation's row lock. Taken while the endpoint runs, that
lock would be held while the response is built, through the stored idempotent response and the
commit, each round trip letting the worker's other requests run first while the organisation's
other creators wait. So the endpoint answers with a placeholder in place of the value and defers
the write (`defer`); the unit of work runs it after the response is built, as the last statement
before the commit, with the idempotent response stored by that same statement
(docs/decisions/0065). Then it commits and puts the value in place of the placeholder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncSession
    from starlette.types import Message, Send

INFO_KEY = "shipyard.final_write"
CLIENT_ERROR = 400


@dataclass(frozen=True, slots=True)
class StoredResponse:
    """The idempotent response to store with the final write: `before`, the value, then `after`.

    `claim_id` and `lease` name the claim; storing must fail (and the transaction roll back) once
    the claim is no longer this request's, exactly as `IdempotencyStore.complete` does.
    """

    claim_id: str
    lease: str | None
    status: int
    headers: list[list[str]]
    before: bytes
    after: bytes


class FinalWrite(Protocol):
    """A deferred write: `placeholder` stands in the response body for the bytes it returns."""

    @property
    def placeholder(self) -> bytes:
        """Bytes that occur exactly once in the response body (unguessable, so no input holds them)."""
        ...

    async def __call__(self, session: AsyncSession, stored: StoredResponse | None) -> tuple[bytes, bool]:
        """Run the write; returns the value's bytes and whether `stored` was stored (True if None)."""
        ...


def defer(session: AsyncSession, write: FinalWrite) -> None:
    """Have the unit of work run `write` last in `session`'s transaction, before it commits."""
    if INFO_KEY in session.info:
        msg = "a request defers one final write at most"
        raise RuntimeError(msg)
    session.info[INFO_KEY] = write


def pending(session: AsyncSession | None) -> FinalWrite | None:
    """The write `session` still has to run, if any."""
    return None if session is None else session.info.get(INFO_KEY)


def refuse_pending(session: AsyncSession) -> None:
    """Fail rather than commit a transaction whose deferred write never ran: its response would be false."""
    if INFO_KEY in session.info:
        msg = "the request deferred a write that never ran"
        raise RuntimeError(msg)


def discard(session: AsyncSession) -> None:
    """Forget the deferred write: its transaction rolls back."""
    session.info.pop(INFO_KEY, None)


def split(body: bytes, placeholder: bytes) -> tuple[bytes, bytes]:
    """The body before and after its one placeholder."""
    if body.count(placeholder) != 1:
        # Never guess which one is the value: failing rolls the write back and the client retries.
        msg = "the response body must hold the final write's placeholder exactly once"
        raise RuntimeError(msg)
    before, _, after = body.partition(placeholder)
    return before, after


async def run(
    session: AsyncSession, body: bytes, stored: Callable[[bytes, bytes], StoredResponse] | None = None
) -> tuple[bytes, bool]:
    """Run the session's deferred write; returns the finished body and whether the response was stored.

    `stored` builds the idempotent response to store from the body's two parts, or is None.
    """
    write = session.info.pop(INFO_KEY)
    before, after = split(body, write.placeholder)
    value, kept = await write(session, None if stored is None else stored(before, after))
    return before + value + after, kept


def with_length(headers: list[tuple[bytes, bytes]], body: bytes) -> list[tuple[bytes, bytes]]:
    """`headers` with the Content-Length of `body` (the value may be shorter than its placeholder)."""
    return [*((name, value) for name, value in headers if name != b"content-length"), content_length(body)]


def content_length(body: bytes) -> tuple[bytes, bytes]:
    """The Content-Length header of `body`."""
    return (b"content-length", str(len(body)).encode())


def deferring_send(
    send: Send, session: Callable[[], AsyncSession | None], finish: Callable[[bool], Awaitable[None]]
) -> Send:
    """A send that, when the request deferred a write, holds the response until the write ran and committed.

    For requests without an Idempotency-Key: `finish(commit)` ends the transaction as the unit of work
    does at the response's start; a successful response with a deferred write waits for its whole body,
    runs the write, commits, and leaves with the value in place of the placeholder.
    """
    held: Message | None = None
    chunks: list[bytes] = []

    async def wrapped(message: Message) -> None:
        nonlocal held
        if message["type"] == "http.response.start":
            if message["status"] < CLIENT_ERROR and pending(session()) is not None:
                held = message
                return
            await finish(message["status"] < CLIENT_ERROR)
        elif held is not None and message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            current = session()
            if current is None:  # pragma: no cover - a deferred write implies a session
                msg = "a deferred write without its session"
                raise RuntimeError(msg)
            body, _ = await run(current, b"".join(chunks))
            await finish(True)  # noqa: FBT003 - the unit of work's own callback: commit
            start, held = held, None
            await send({**start, "headers": with_length(list(start.get("headers", [])), body)})
            await send({"type": "http.response.body", "body": body})
            return
        await send(message)

    return wrapped
