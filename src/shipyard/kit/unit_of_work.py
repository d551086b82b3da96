"""The request boundary: one session per request, committed before the response is sent.

Services never commit. This middleware commits when the response starts with a status below 400
and rolls back otherwise, so an acknowledged write is a committed write. For requests carrying an
Idempotency-Key it also claims the key first and stores the response in the same transaction; a 5xx
or a transient 4xx (408, 409, 425, 429) releases the key instead, so that a retry runs again. A write
an endpoint deferred (kit/final_write.py) runs last, after the response is built, then it commits.

A read (GET, HEAD, ...) that fails because its database connection turned out to be dead (a backend
crash, a PgBouncer restart) before any byte of the response was sent runs once more: SQLAlchemy has
by then invalidated every connection pooled before the failure, so the retry gets a fresh one. A
client may retry a safe request anyway; doing it here spares it a 500.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy.exc import DBAPIError
from starlette.routing import Match

from shipyard.kit import final_write
from shipyard.kit.asgi import header, read_body, replay_receive, send_body, send_problem
from shipyard.kit.idempotency import (
    Claim,
    ClaimOutcome,
    IdempotencyScope,
    IdempotencyStore,
    LeaseKeeper,
    fingerprint,
    parse_key,
)
from shipyard.kit.logging import get_logger
from shipyard.kit.problems import PROBLEM_CONTENT_TYPE, AccessGate, problem_body
from shipyard.kit.secret_response import route_returns_secret

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from shipyard.kit.db import Database

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
IDEMPOTENT_METHODS = frozenset({"POST", "PATCH", "DELETE", "PUT"})
SERVER_ERROR = 500
CLIENT_ERROR = 400
# Client errors that say "not now" rather than "no": the key is released so that a retry runs again.
RETRYABLE_CLIENT_ERRORS = frozenset({408, 409, 425, 429})

PrincipalKeyResolver = Callable[["Scope"], Awaitable[str | None]]

log = get_logger("shipyard.db")


class SessionHolder:
    """Opens the request's session on first use, so requests that never touch the DB cost nothing."""

    __slots__ = ("_factory", "_writer", "session")

    def __init__(self, factory: async_sessionmaker[AsyncSession], *, writer: async_sessionmaker[AsyncSession]) -> None:
        self._factory = factory
        self._writer = writer
        self.session: AsyncSession | None = None

    def get(self) -> AsyncSession:
        """The request's session."""
        if self.session is None:
            self.session = self._factory()
        return self.session

    def get_for_writing(self) -> AsyncSession:
        """The request's session from the writer factory, even in a GET (the sign-in callback writes).

        On SQLite the reader begins deferred transactions, which fail with "database is locked"
        instead of queueing when they write after another writer; on PostgreSQL the reader
        autocommits each read. A session opened before is kept only if it already is a writer's.
        """
        if self.session is None:
            self._factory = self._writer
        elif self._factory is not self._writer:
            msg = "the request's session was opened as a reader before the endpoint asked for a writer"
            raise RuntimeError(msg)
        return self.get()

    async def finish(self, *, commit: bool) -> None:
        """Commit or roll back, if the session began anything (a direct read begins nothing)."""
        if self.session is not None and _began_anything(self.session):
            if commit:
                final_write.refuse_pending(self.session)
                await self.session.commit()
            else:
                final_write.discard(self.session)
                await self.session.rollback()

    async def close(self) -> None:
        """Release the connection (rolling back anything left open)."""
        session, self.session = self.session, None
        if session is not None and (_began_anything(session) or session.identity_map):
            await session.close()


def _began_anything(session: AsyncSession) -> bool:
    # `add()` alone begins no transaction (autoflush is off), yet commit must still flush it.
    return session.in_transaction() or bool(session.new or session.deleted or session.dirty)


class UnitOfWorkMiddleware:
    """Pure ASGI; sits inside the request-context middleware and outside FastAPI's routing."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        database: Callable[[], Database],
        idempotency: Callable[[], IdempotencyStore],
        principal_key: PrincipalKeyResolver,
        gate: AccessGate | None = None,
    ) -> None:
        self.app = app
        self.database = database
        self.idempotency = idempotency
        self.principal_key = principal_key
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request inside its unit of work."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        database = self.database()
        holder = SessionHolder(
            database.request_reader if method in SAFE_METHODS else database.writer, writer=database.writer
        )
        scope.setdefault("state", {})["session_holder"] = holder
        try:
            raw_key = header(scope, b"idempotency-key") if method in IDEMPOTENT_METHODS else None
            if raw_key is not None:
                await self._idempotent(scope, receive, send, holder, parse_key(raw_key))
            elif method in SAFE_METHODS:
                await self._read(scope, receive, _no_store_for_secrets(scope, send), holder)
            else:
                await self.app(scope, receive, _committing_send(_no_store_for_secrets(scope, send), holder))
        finally:
            await holder.close()

    async def _read(self, scope: Scope, receive: Receive, send: Send, holder: SessionHolder) -> None:
        """Run a safe request; once more on a fresh connection if the first one was dead."""
        attempt = _Attempt(receive, _committing_send(send, holder))
        try:
            await self.app(scope, attempt.receive, attempt.send)
        except DBAPIError as exc:
            if not exc.connection_invalidated or attempt.started or attempt.partly_read:
                raise
            driver_error = exc.orig.__cause__ or exc.orig if exc.orig is not None else exc
            log.warning("read_retried_on_fresh_connection", error=type(driver_error).__name__, method=scope["method"])
        else:
            return
        await holder.close()
        retry_receive = replay_receive(attempt.body, receive) if attempt.read_whole_body else receive
        await self.app(scope, retry_receive, _committing_send(send, holder))

    async def _idempotent(self, scope: Scope, receive: Receive, send: Send, holder: SessionHolder, key: str) -> None:
        if self.gate is not None:
            # A caller the route refuses claims no key: a replay, a reused key or a key in flight
            # would otherwise answer before its 401 or 403.
            await self.gate(scope)
        body = await read_body(receive)
        receive = replay_receive(body, receive)
        principal_key = await self.principal_key(scope)
        if principal_key is None:
            # No valid caller: the endpoint will refuse it, and nothing is worth remembering.
            await self.app(scope, receive, _committing_send(send, holder))
            return
        store = self.idempotency()
        claim = await store.claim(
            IdempotencyScope(principal_key, scope["method"], scope["path"], key), fingerprint(body)
        )
        if claim.outcome is not ClaimOutcome.CLAIMED:
            _label_route(scope)
        if claim.outcome is ClaimOutcome.REPLAY:
            record = claim.record
            headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in record.response_headers or []]
            payload = record.response_body or b""
            headers += [(b"content-length", str(len(payload)).encode()), (b"idempotent-replayed", b"true")]
            await send_body(send, record.response_status or 200, payload, headers)
            return
        if claim.outcome is ClaimOutcome.MISMATCH:
            await send_problem(
                send,
                422,
                problem_body(
                    422,
                    "idempotency_key_reused",
                    "This Idempotency-Key was used with a different request payload.",
                ),
            )
            return
        if claim.outcome is ClaimOutcome.IN_FLIGHT:
            # The holder's lease says when the key is free at the latest: at once if its request died.
            await send_problem(send, 409, _in_flight_problem(), [_retry_after(claim.retry_after_s())])
            return
        await self._run_claimed(scope, receive, send, holder, store, claim)

    async def _run_claimed(
        self, scope: Scope, receive: Receive, send: Send, holder: SessionHolder, store: IdempotencyStore, claim: Claim
    ) -> None:
        start: Message | None = None
        chunks: list[bytes] = []
        # Whether the claim is still ours to release. Once the response is stored and committed, nothing
        # may release it (not a failed send, not a background task raising): the write is acknowledged.
        releasable = True
        passthrough = False

        async def capture(message: Message) -> None:
            nonlocal start, passthrough, releasable
            if passthrough:
                await send(message)
                return
            if message["type"] == "http.response.start":
                message = _with_no_store_if_secret(scope, message)
                if _worth_retrying(message["status"]):
                    # Our failure or a transient conflict, not an answer: forget the key so a retry runs again.
                    await holder.finish(commit=False)
                    await store.release(claim)
                    releasable = False
                    passthrough = True
                    await send(message)
                    return
                start = message
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False) or start is None:
                return
            status, headers, body = await self._settle(holder, store, claim, start, b"".join(chunks))
            releasable = False
            await send_body(send, status, body, headers)

        keeper = LeaseKeeper(store, claim)
        keeper.start()
        try:
            await self.app(scope, receive, capture)
        except BaseException:
            if releasable:
                await holder.finish(commit=False)
                await store.release(claim)
            raise
        finally:
            # After the request's transaction ended (committed or rolled back above, or in `capture`).
            await keeper.stop()

    @staticmethod
    async def _settle(
        holder: SessionHolder, store: IdempotencyStore, claim: Claim, start: Message, body: bytes
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Commit the request with its stored response; returns the response to send."""
        status = int(start["status"])
        headers = list(start.get("headers", []))
        if status < CLIENT_ERROR:
            # The response is stored in the request's own transaction: both commit, or neither.
            session = holder.get()
            stored_status, stored_headers, stored_body = _replayable(status, headers, body)
            deferred = final_write.pending(session) is not None
            # A deferred write stores the response in its own statement, unless it is withheld (decisions/0065).
            storing = claim.storing(status, headers) if deferred and stored_body is body else None
            if deferred:
                body, stored = await final_write.run(session, body, storing)
                headers = final_write.with_length(headers, body)
            if storing is None:
                stored = await IdempotencyStore.complete(session, claim, stored_status, stored_headers, stored_body)
            if stored:
                await session.commit()
                return status, headers, body
            # Our lease lapsed and a retry took the key over; committing too would run the operation twice.
            await holder.finish(commit=False)
            problem = _in_flight_problem()
            return 409, [*_problem_headers(problem), _retry_after(math.ceil(store.lock.total_seconds()))], problem
        await holder.finish(commit=False)
        async with store.sessions() as session:
            await IdempotencyStore.complete(session, claim, status, headers, body)
            await session.commit()
        return status, headers, body


def _replayable(
    status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """What to store for a replay: the response itself, unless it must never be stored.

    A response marked `Cache-Control: no-store` carries a secret shown once (a new API token, a webhook
    signing secret, session cookies; see `_with_no_store_if_secret`). Storing
    it would keep the secret in the database for the key's lifetime, so a replay answers 409
    `idempotency_response_withheld` instead: the operation happened once, and its secret stays unseen.
    """
    cache_control = next((value for name, value in headers if name == b"cache-control"), b"")
    if b"no-store" not in cache_control.lower():
        return status, headers, body
    withheld = problem_body(
        409,
        "idempotency_response_withheld",
        "This request already succeeded; its response held a secret and is not replayed.",
    )
    return 409, _problem_headers(withheld), withheld


def _with_no_store_if_secret(scope: Scope, message: Message) -> Message:
    """The response start, marked `Cache-Control: no-store` when its route declares a secret-bearing body.

    The mark is what `_replayable` withholds on, so the model's declaration (kit/secret_response.py)
    alone keeps the secret out of caches and out of the idempotency store.
    """
    if message["status"] >= CLIENT_ERROR or not route_returns_secret(scope):
        return message
    headers = [(name, value) for name, value in message.get("headers", []) if name != b"cache-control"]
    return {**message, "headers": [*headers, (b"cache-control", b"no-store")]}


def _no_store_for_secrets(scope: Scope, send: Send) -> Send:
    async def marked(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = _with_no_store_if_secret(scope, message)
        await send(message)

    return marked


def _label_route(scope: Scope) -> None:
    """Record the matching route for logs and metrics, although routing never ran for this answer."""
    routes = getattr(getattr(scope.get("app"), "state", None), "labelled_routes", ())
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            scope["route"] = route
            return


def _retry_after(seconds: int) -> tuple[bytes, bytes]:
    return (b"retry-after", str(seconds).encode())


def _worth_retrying(status: int) -> bool:
    return status >= SERVER_ERROR or status in RETRYABLE_CLIENT_ERRORS


def _in_flight_problem() -> bytes:
    return problem_body(
        409, "idempotency_key_in_flight", "A request with this Idempotency-Key is still being processed; retry shortly."
    )


def _problem_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", PROBLEM_CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]


class _Attempt:
    """Wraps one run of a request: whether its response started, and what it read of the body."""

    __slots__ = ("_chunks", "_receive", "_send", "read_whole_body", "started")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
        self._chunks: list[bytes] = []
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
        message = await self._receive()
        if message["type"] == "http.request":
            self._chunks.append(message.get("body", b""))
            self.read_whole_body = not message.get("more_body", False)
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


def _committing_send(send: Send, holder: SessionHolder) -> Send:
    async def finish(commit: bool) -> None:
        # Commit before the first byte leaves: a client never sees success for a lost write. Then
        # hand the connection back to the pool before the (possibly slow) client reads the body.
        await holder.finish(commit=commit)
        await holder.close()

    return final_write.deferring_send(send, lambda: holder.session, finish)
