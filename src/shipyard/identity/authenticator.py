"""Resolving a bearer token to a Principal, with a short in-process cache.

A valid token is looked up at most once per `token_cache_ttl_s` per process, so the hot path does
no database work for authentication. Revocation reaches every process within that TTL; in the
process that revoked it, at once.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shipyard.identity import repository, token_format
from shipyard.identity.principal import Principal
from shipyard.identity.scopes import ROLE_SCOPES
from shipyard.kit.logging import get_logger
from shipyard.models.base import utcnow

log = get_logger("shipyard.identity.authenticator")


@dataclass(frozen=True, slots=True)
class AuthFailure:
    """Why a credential was refused; `reason` is a stable code recorded in the audit log."""

    reason: str
    token_id: str | None = None
    organization_id: str | None = None


@dataclass(slots=True)
class _Cached:
    principal: Principal | None
    failure: AuthFailure | None
    expires_at: datetime | None
    cached_until: float
    last_used_at: datetime | None


class TokenAuthenticator:
    """Verifies API tokens for one app instance."""

    def __init__(
        self,
        reader: async_sessionmaker[AsyncSession],
        writer: async_sessionmaker[AsyncSession],
        *,
        ttl_s: float,
        last_used_resolution: timedelta,
        max_entries: int = 10_000,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.ttl_s = ttl_s
        self.last_used_resolution = last_used_resolution
        self.max_entries = max_entries
        self._cache: dict[str, _Cached] = {}
        self._loading: dict[str, asyncio.Future[_Cached]] = {}
        # (organization_id, user_id) of members whose role dropped here, until when their tokens go uncached.
        self._members_changed: dict[tuple[str, str], float] = {}

    def forget(self, token_hash: str | None = None) -> None:
        """Drop a cached token (or all of them), e.g. right after a revocation."""
        if token_hash is None:
            self._cache.clear()
        else:
            self._cache.pop(token_hash, None)

    def mark_revoked(self, token_hash: str, token_id: str, organization_id: str) -> None:
        """Refuse a token in this process at once, before its revocation even commits.

        Simply forgetting it would let a concurrent request reload the row before the commit and
        cache it as valid for another TTL. If the revocation rolls back, the token is refused for at
        most one TTL, which errs on the safe side.
        """
        failure = AuthFailure("token_revoked", token_id, organization_id)
        self._cache[token_hash] = _Cached(None, failure, None, time.monotonic() + self.ttl_s, None)

    def forget_member(self, organization_id: str, user_id: str) -> None:
        """Drop the cached tokens of a member whose role dropped or who was removed, before that commits.

        For one TTL after, that member's tokens are not cached at all: a request that reads the row
        before the change commits must not keep the old role for another TTL. Each of those requests
        reads the database instead, so the first one after the commit sees the new role.
        """
        now = time.monotonic()
        self._members_changed = {key: until for key, until in self._members_changed.items() if until >= now}
        self._members_changed[(organization_id, user_id)] = now + self.ttl_s
        for token_hash, entry in list(self._cache.items()):
            principal = entry.principal
            if principal is not None and (principal.organization_id, principal.user_id) == (organization_id, user_id):
                del self._cache[token_hash]

    async def authenticate(self, token: str, ip: str | None) -> Principal | AuthFailure:
        """The Principal for `token`, or why it is refused."""
        token_hash = token_format.hash_token(token)
        entry = self._cache.get(token_hash)
        # Only tokens that were found are cached, so a hit was well formed: the checksum (CPU on every
        # request otherwise) guards the database, and only a miss reaches it.
        if entry is None or entry.cached_until < time.monotonic():
            if not token_format.is_well_formed(token):
                return AuthFailure("malformed_token")
            entry = await self._load_once(token_hash)
        now = utcnow()
        if entry.failure is not None:
            return entry.failure
        assert entry.principal is not None  # noqa: S101 - a cache entry holds one or the other
        if entry.expires_at is not None and entry.expires_at <= now:
            return AuthFailure("token_expired", entry.principal.token_id, entry.principal.organization_id)
        if entry.last_used_at is None or now - entry.last_used_at >= self.last_used_resolution:
            await self._record_use(entry, now, ip)
        return entry.principal

    async def _record_use(self, entry: _Cached, now: datetime, ip: str | None) -> None:
        """Write when and from where the token was last used: best effort, never the request's failure.

        Throttled so that a busy token costs one write a minute, not one per request. A database that
        cannot take the write now (SQLite locked past its busy timeout, a connection lost) costs the
        record of this use, logged; the next attempt comes after the same interval, so that a locked
        database does not make every request of the token wait out the busy timeout again.
        """
        assert entry.principal is not None  # noqa: S101 - only valid tokens are recorded
        entry.last_used_at = now
        try:
            async with self.writer() as session:
                await repository.touch_token(session, entry.principal.token_id or "", now, ip)
                await session.commit()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("token_last_used_not_recorded", token_id=entry.principal.token_id, exc_type=type(exc).__name__)

    async def _load_once(self, token_hash: str) -> _Cached:
        """Load a token's entry, sharing one database read among all the requests that need it now.

        When a busy token's entry expires, every request in flight with it misses at once; without
        this, each would run the same query in its own session: a burst of work, every TTL, that
        showed as a latency spike for all of them.
        """
        pending = self._loading.get(token_hash)
        if pending is None:
            pending = asyncio.ensure_future(self._load(token_hash))
            self._loading[token_hash] = pending
            pending.add_done_callback(lambda _done: self._loading.pop(token_hash, None))
        # Shielded: a request that is cancelled while waiting must not cancel the others' read.
        return await asyncio.shield(pending)

    async def _load(self, token_hash: str) -> _Cached:
        async with self.reader() as session:
            found = await repository.find_token_for_auth(session, token_hash)
        current = self._cache.get(token_hash)
        if (
            current is not None
            and current.failure is not None
            and current.failure.reason == "token_revoked"
            and current.cached_until >= time.monotonic()
        ):
            # Revoked in this process while the row was being read: the older read must not undo that.
            return current
        deadline = time.monotonic() + self.ttl_s
        if found is None:
            # Unknown tokens are not cached: a scan of random tokens must not fill the cache.
            return _Cached(None, AuthFailure("unknown_token"), None, 0.0, None)
        token, role = found
        failure: AuthFailure | None = None
        if token.revoked_at is not None:
            failure = AuthFailure("token_revoked", token.id, token.organization_id)
        elif role is None:
            failure = AuthFailure("creator_not_a_member", token.id, token.organization_id)
        principal = None
        if failure is None and role is not None:
            principal = Principal(
                organization_id=token.organization_id,
                user_id=token.created_by_user_id,
                role=role,
                # Never more than the creator's role allows today, even if they were demoted.
                scopes=frozenset(token.scopes) & ROLE_SCOPES[role],
                token_id=token.id,
            )
        changed_until = self._members_changed.get((token.organization_id, token.created_by_user_id), 0.0)
        if changed_until >= time.monotonic():
            deadline = 0.0  # The member's role just changed in this process: read it again next time.
        entry = _Cached(principal, failure, token.expires_at, deadline, token.last_used_at)
        if len(self._cache) >= self.max_entries:
            self._cache.clear()
        self._cache[token_hash] = entry
        return entry
