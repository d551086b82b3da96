"""Idempotency-Key storage (draft-ietf-httpapi-idempotency-key-header).

A key is claimed in its own short transaction before the request runs, so a concurrent retry sees
it in flight. The stored response is written in the same transaction as the request's own writes
(see `unit_of_work`), so a crash can never leave a write committed without its replayable answer.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from shipyard.kit.problems import ProblemError
from shipyard.models.base import utcnow
from shipyard.models.idempotency_key import IdempotencyKey

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

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

    `lease` is the `locked_until` this request wrote when it claimed the key. Completing or releasing
    the key requires it to be unchanged, so a request that outlived its lock (and was taken over by a
    retry) cannot also commit its writes, nor delete the retry's claim.
    """

    outcome: ClaimOutcome
    record: IdempotencyKey
    lease: datetime | None = None


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
        self.lock = lock

    async def claim(self, scope: IdempotencyScope, digest: str) -> Claim:
        """Take the key for this request, or say why it cannot run."""
        existing: IdempotencyKey | None = None
        for _ in range(3):
            now = utcnow()
            async with self.sessions() as session:
                record = IdempotencyKey(
                    principal_key=scope.principal_key,
                    method=scope.method,
                    path=scope.path,
                    key=scope.key,
                    fingerprint=digest,
                    locked_until=now + self.lock,
                    created_at=now,
                    expires_at=now + self.ttl,
                )
                session.add(record)
                try:
                    await session.commit()
                except IntegrityError:
                    await session.rollback()
                else:
                    return Claim(ClaimOutcome.CLAIMED, record, record.locked_until)
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
                # Its request died without finishing (nothing it wrote was committed): take it over.
                lease = now + self.lock
                taken = await session.execute(
                    update(IdempotencyKey)
                    .where(
                        IdempotencyKey.id == existing.id,
                        IdempotencyKey.completed.is_(False),
                        IdempotencyKey.locked_until == existing.locked_until,
                    )
                    .values(locked_until=lease),
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
        kept = [
            [name.decode("latin-1"), value.decode("latin-1")] for name, value in headers if name not in _NOT_REPLAYED
        ]
        result = await session.execute(
            update(IdempotencyKey)
            .where(*_held(claim))
            .values(completed=True, response_status=status, response_headers=kept, response_body=body),
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]  # CursorResult of an UPDATE

    async def release(self, claim: Claim) -> None:
        """Forget a claim whose request failed on our side, so that a retry runs it again."""
        async with self.sessions() as session:
            await session.execute(delete(IdempotencyKey).where(*_held(claim)))
            await session.commit()

    async def prune(self) -> int:
        """Delete expired keys; returns how many."""
        async with self.sessions() as session:
            result = await session.execute(delete(IdempotencyKey).where(IdempotencyKey.expires_at <= utcnow()))
            await session.commit()
            return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult of a DELETE


def _held(claim: Claim) -> tuple[ColumnElement[bool], ...]:
    """The claim's row, as long as this request still holds it."""
    return (
        IdempotencyKey.id == claim.record.id,
        IdempotencyKey.completed.is_(False),
        IdempotencyKey.locked_until == claim.lease,
    )


def _unreachable() -> Claim:
    msg = "idempotency claim found no row after a conflict three times"
    raise RuntimeError(msg)
