"""Idempotency-Key storage (draft-ietf-httpapi-idempotency-key-header).

A key is claimed in its own short transaction before the request runs, so a concurrent retry sees
it in flight. The stored response is written in the same transaction as the request's own writes
(see `unit_of_work`), so a crash can never leave a write committed without its replayable answer.

A claim is a short lease (`locked_until`, named by `lease_id`) that its running request renews
(`LeaseKeeper`). A request that dies (kill -9, a crashed host) stops renewing, so a retry takes its
key over within one lease instead of waiting out a long fixed lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Update, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from shipyard.kit.final_write import StoredResponse
from shipyard.kit.idempotency_key import IdempotencyKey
from shipyard.kit.ids import new_id
from shipyard.kit.logging import get_logger
from shipyard.kit.orm import utcnow
from shipyard.kit.problems import ProblemError

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from shipyard.kit.db import Database
    from shipyard.settings import Settings

MAX_KEY_LENGTH = 255
# A key is 1 to 255 visible ASCII characters or inner spaces (no double quote), bare or as a
# structured-field string ("abc"), whose quotes are not part of the key. The OpenAPI document
# publishes this very pattern, so a client can check a key before sending it.
_KEY_CHARS = "[ !#-~]"
_EDGE_CHAR = "[!#-~]"
KEY_PATTERN = (
    f'^(?:{_EDGE_CHAR}(?:{_KEY_CHARS}{{0,{MAX_KEY_LENGTH - 2}}}{_EDGE_CHAR})?|"{_KEY_CHARS}{{1,{MAX_KEY_LENGTH}}}")$'
)
_KEY = re.compile(KEY_PATTERN)

# A live request renews its lease this many times per lease length, so one slow renewal (a busy
# SQLite writer, a slow commit) does not let the lease lapse under a request that still runs.
RENEWALS_PER_LEASE = 3

log = get_logger("shipyard.idempotency")
# Headers that describe this particular exchange, not the result being replayed.
_NOT_REPLAYED = frozenset({b"x-request-id", b"date", b"server", b"content-length"})


def parse_key(raw: str) -> str:
    """Validate an Idempotency-Key value against `KEY_PATTERN`; a structured-field string loses its quotes."""
    if not _KEY.fullmatch(raw):
        raise ProblemError(
            400,
            "idempotency_key_invalid",
            f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} visible ASCII characters or inner spaces, "
            "without double quotes, optionally wrapped in one pair of them.",
        )
    return raw[1:-1] if raw.startswith('"') else raw


def fingerprint(body: bytes) -> str:
    """A digest of the request payload; the same key with another payload is refused."""
    return hashlib.sha256(body).hexdigest()


class ClaimOutcome(Enum):
    """What claiming a key found."""

    CLAIMED = "claimed"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    IN_FLIGHT = "in_flight"


@dataclass(frozen=True, slots=True)
class Claim:
    """The result of `claim`: the row and what to do with the request.

    `lease` is the `lease_id` this request wrote when it claimed the key. Renewing, completing or
    releasing the key requires it to be unchanged, so a request whose lease lapsed (and that was
    taken over by a retry) cannot also commit its writes, nor delete the retry's claim.
    """

    outcome: ClaimOutcome
    record: IdempotencyKey
    lease: str | None = None

    def storing(self, status: int, headers: list[tuple[bytes, bytes]]) -> Callable[[bytes, bytes], StoredResponse]:
        """What a deferred write stores for this claim, given the body around its value (kit/final_write.py)."""
        return functools.partial(StoredResponse, self.record.id, self.lease, status, replayed_headers(headers))

    def retry_after_s(self) -> int:
        """Whole seconds until the holder's lease lapses: a retry then runs, unless the holder renewed it."""
        return max(1, math.ceil((self.record.locked_until - utcnow()).total_seconds()))


@dataclass(frozen=True, slots=True)
class IdempotencyScope:
    """Who is calling which operation with which key."""

    principal_key: str
    method: str
    path: str
    key: str


class IdempotencyStore:
    """Claims, completes and releases keys."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, ttl: timedelta, lock: timedelta) -> None:
        self.sessions = sessions
        self.ttl = ttl
        self.lock = lock  # the lease length; its request renews it while it runs

    @classmethod
    def from_settings(cls, database: Database, settings: Settings) -> IdempotencyStore:
        """The store on `database`'s writer with the configured key lifetime and lease."""
        return cls(
            database.writer,
            ttl=timedelta(hours=settings.idempotency_ttl_hours),
            lock=timedelta(seconds=settings.idempotency_lock_s),
        )

    async def claim(self, scope: IdempotencyScope, digest: str) -> Claim:
        """Take the key for this request, or say why it cannot run."""
        existing: IdempotencyKey | None = None
        for _ in range(3):
            now = utcnow()
            async with self.sessions() as session:
                lease = _new_lease_id()
                values: dict[str, object] = {
                    "id": new_id("idk"),
                    "principal_key": scope.principal_key,
                    "method": scope.method,
                    "path": scope.path,
                    "key": scope.key,
                    "fingerprint": digest,
                    "completed": False,
                    "locked_until": now + self.lock,
                    "lease_id": lease,
                    "created_at": now,
                    "expires_at": now + self.ttl,
                }
                try:
                    # A Core insert of a prepared statement: the ORM's flush (unit-of-work sort, identity
                    # map) cost a sixth of a creation's CPU for this one row.
                    await session.execute(_CLAIM, values)
                    await session.commit()
                except IntegrityError:
                    await session.rollback()
                else:
                    return Claim(ClaimOutcome.CLAIMED, IdempotencyKey(**values), lease)
                existing = await self._find(session, scope)
                if existing is None:
                    continue  # released between our insert and our read; try again
                if existing.expires_at <= now:
                    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == existing.id))
                    await session.commit()
                    continue
                if existing.fingerprint != digest:
                    return Claim(ClaimOutcome.MISMATCH, existing)
                if existing.completed:
                    return Claim(ClaimOutcome.REPLAY, existing)
                if existing.locked_until > now:
                    return Claim(ClaimOutcome.IN_FLIGHT, existing)
                # Its request stopped renewing without finishing (nothing it wrote was committed): take it
                # over. Comparing `locked_until` makes a renewal that lands first win instead.
                lease = _new_lease_id()
                taken = await session.execute(
                    update(IdempotencyKey)
                    .where(
                        IdempotencyKey.id == existing.id,
                        IdempotencyKey.completed.is_(False),
                        IdempotencyKey.locked_until == existing.locked_until,
                    )
                    .values(locked_until=now + self.lock, lease_id=lease),
                )
                await session.commit()
                if taken.rowcount == 1:  # type: ignore[attr-defined]  # CursorResult of an UPDATE
                    return Claim(ClaimOutcome.CLAIMED, existing, lease)
        return Claim(ClaimOutcome.IN_FLIGHT, existing) if existing else _unreachable()

    @staticmethod
    async def _find(session: AsyncSession, scope: IdempotencyScope) -> IdempotencyKey | None:
        return await session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.principal_key == scope.principal_key,
                IdempotencyKey.method == scope.method,
                IdempotencyKey.path == scope.path,
                IdempotencyKey.key == scope.key,
            ),
        )

    @staticmethod
    async def complete(
        session: AsyncSession, claim: Claim, status: int, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> bool:
        """Store the response in `session`'s transaction (the caller commits); False if the lease was lost."""
        values = {"response_status": status, "response_headers": replayed_headers(headers), "response_body": body}
        result = await session.execute(_COMPLETE, {**_held(claim), **values})
        return int(result.rowcount) == 1  # type: ignore[attr-defined]  # CursorResult of an UPDATE

    async def renew(self, claim: Claim) -> bool:
        """Extend the claim's lease by one lease length; False once it is no longer this request's.

        A lease that has already lapsed is not renewed: a retry may be taking the key over right now.
        """
        async with self.sessions() as session:
            now = utcnow()
            result = await session.execute(_RENEW, {**_held(claim), "now": now, "locked_until": now + self.lock})
            await session.commit()
            return int(result.rowcount) == 1  # type: ignore[attr-defined]  # CursorResult of an UPDATE

    async def release(self, claim: Claim) -> None:
        """Forget a claim whose request failed on our side, so that a retry runs it again."""
        async with self.sessions() as session:
            await session.execute(_RELEASE, _held(claim))
            await session.commit()

    async def prune(self) -> int:
        """Delete expired keys; returns how many."""
        async with self.sessions() as session:
            result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow()))
            await session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of a DELETE


_TABLE = IdempotencyKey.metadata.tables[IdempotencyKey.__tablename__]
_CLAIM = insert(_TABLE)
# The claim's row, as long as this request still holds it (`_held` gives the parameters). The
# statements are built once: building one costs more CPU than sending it.
_HELD = (
    _TABLE.c.id == bindparam("held_id"),
    _TABLE.c.completed.is_(False),
    _TABLE.c.lease_id == bindparam("held_lease"),
)


def _completion(body: ColumnElement[bytes]) -> Update:
    return (
        update(_TABLE)
        .where(*_HELD)
        .values(
            completed=True,
            response_status=bindparam("response_status"),
            response_headers=bindparam("response_headers", type_=_TABLE.c.response_headers.type),
            response_body=body,
        )
    )


_COMPLETE = _completion(bindparam("response_body", type_=_TABLE.c.response_body.type))
_RENEW = (
    update(_TABLE)
    .where(*_HELD, _TABLE.c.locked_until > bindparam("now", type_=_TABLE.c.locked_until.type))
    .values(locked_until=bindparam("locked_until"))
)
_RELEASE = delete(_TABLE).where(*_HELD)


def _held(claim: Claim) -> dict[str, str | None]:
    """The parameters of `_HELD` for this claim."""
    return {"held_id": claim.record.id, "held_lease": claim.lease}


def replayed_headers(headers: list[tuple[bytes, bytes]]) -> list[list[str]]:
    """The headers a replay repeats, as stored."""
    return [[name.decode("latin-1"), value.decode("latin-1")] for name, value in headers if name not in _NOT_REPLAYED]


def completion_with_value(value: ColumnElement[bytes]) -> Update:
    """`_COMPLETE` storing `before || value || after` as the body: for a deferred write's own statement.

    Its parameters are `completion_params`; it matches no row once the claim is no longer this request's.
    """
    body = _TABLE.c.response_body.type
    joined = bindparam("stored_before", type_=body).op("||", return_type=body)(value)
    return _completion(joined.op("||", return_type=body)(bindparam("stored_after", type_=body)))


def completion_params(stored: StoredResponse) -> dict[str, Any]:
    """The parameters of `completion_with_value` for `stored`."""
    return {
        "held_id": stored.claim_id,
        "held_lease": stored.lease,
        "response_status": stored.status,
        "response_headers": stored.headers,
        "stored_before": stored.before,
        "stored_after": stored.after,
    }


async def store_with_value(session: AsyncSession, stored: StoredResponse, value: bytes) -> bool:
    """Store `stored` with `value` between its parts, in its own statement; False if the lease was lost."""
    params = completion_params(stored)
    params["response_body"] = params.pop("stored_before") + value + params.pop("stored_after")
    result = await session.execute(_COMPLETE, params)
    return int(result.rowcount) == 1  # type: ignore[attr-defined]  # CursorResult of an UPDATE


def _new_lease_id() -> str:
    return secrets.token_hex(16)


class LeaseKeeper:
    """Renews a claim's lease in the background while its request runs (`async with`)."""

    def __init__(self, store: IdempotencyStore, claim: Claim) -> None:
        self._store = store
        self._claim = claim
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin renewing."""
        self._task = asyncio.create_task(self._keep(), name="idempotency-lease")

    async def stop(self) -> None:
        """Stop renewing. Call it once the request's transaction has ended."""
        # By then a renewal in progress cannot be waiting for a lock this request holds (SQLite's single
        # writer), so it is let finish rather than cancelled halfway through its own transaction.
        self._stopped.set()
        if self._task is not None:
            await self._task

    async def _keep(self) -> None:
        interval = self._store.lock.total_seconds() / RENEWALS_PER_LEASE
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), interval)
                return
            try:
                if not await self._store.renew(self._claim):
                    return  # completed, released, or lapsed and perhaps taken over: nothing left to keep
            except (SQLAlchemyError, OSError) as exc:
                # A database hiccup: the next renewal may still come in time, and if none does, the key is
                # taken over by a retry and this request answers 409 instead of committing twice.
                log.warning("idempotency_lease_renewal_failed", error=type(exc).__name__)


def _unreachable() -> Claim:
    msg = "idempotency claim found no row after a conflict three times"
    raise RuntimeError(msg)
