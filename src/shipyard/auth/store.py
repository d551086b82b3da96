"""Where browser sessions and in-flight logins live: the database, or Valkey/Redis db0.

A session is one sign-in on one device: a family of short access tokens and rotating refresh
tokens. Tokens are random (`secrets.token_urlsafe(32)`) and only their SHA-256 hashes are stored,
so a copy of the store grants nothing. Every read checks expiry and revocation against the store
itself (no cache), so a revocation takes effect on the very next request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shipyard.kit.db import Database
    from shipyard.settings import Settings

TOKEN_BYTES = 32
# The auth_sessions column; a longer ID token is not kept (logout at the provider then goes without a hint).
MAX_ID_TOKEN_HINT = 4096


@dataclass(frozen=True, slots=True)
class NewSession:
    """What the login callback knows about a sign-in that is about to become a session."""

    user_id: str
    organization_id: str
    provider: str | None
    ip: str | None
    user_agent: str | None
    remember: bool
    # The provider's ID token, for RP-initiated logout only: kept while the session lives, if it fits and the
    # provider has an end-session endpoint; gone when the session ends (decisions/0009).
    id_token_hint: str | None


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """Fresh tokens for the browser's cookies; the only place the raw tokens ever exist server-side."""

    session_id: str
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    remember: bool = False


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A stored session, as listed to its user and resolved into a Principal."""

    session_id: str
    user_id: str
    organization_id: str
    provider: str | None
    ip: str | None
    user_agent: str | None
    remember: bool
    id_token_hint: str | None
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime  # when the current refresh token lapses, unless it is refreshed


@dataclass(frozen=True, slots=True)
class Rotated:
    """The refresh token was exchanged: the old one is used, the old access token is dead."""

    issued: IssuedSession
    record: SessionRecord


@dataclass(frozen=True, slots=True)
class Reused:
    """An already-used refresh token came back: the store has revoked the whole session."""

    record: SessionRecord


@dataclass(frozen=True, slots=True)
class Refused:
    """Unknown, expired or revoked: nothing changed. `reason` is a stable code for logs."""

    reason: str


RotationOutcome = Rotated | Reused | Refused


class SessionStore(Protocol):
    """The operations both stores implement, with the same semantics (the tests run on both)."""

    async def save_login_attempt(self, state: str, browser_secret: str, data: dict[str, Any], ttl_s: int) -> None:
        """Remember a login in flight under its `state`, bound to the browser holding `browser_secret`."""

    async def take_login_attempt(self, state: str, browser_secret: str) -> dict[str, Any] | None:
        """Consume the login for `state` (whoever asks first); None if unknown, expired or another browser's."""

    async def create_session(self, db: AsyncSession, new: NewSession, *, now: datetime | None = None) -> IssuedSession:
        """Start a session with fresh random tokens (never any the browser brought: no fixation)."""

    async def resolve_access(self, access_token: str, *, now: datetime | None = None) -> SessionRecord | None:
        """The live session an access token belongs to; None if unknown, expired, rotated away or revoked."""

    async def find_by_refresh(self, refresh_token: str, *, now: datetime | None = None) -> SessionRecord | None:
        """The live session a refresh token (used or not) belongs to, without exchanging it."""

    async def rotate_refresh(self, refresh_token: str, *, now: datetime | None = None) -> RotationOutcome:
        """Exchange a refresh token atomically; a used one revokes its session (reuse detection)."""

    async def touch(self, session_id: str, *, now: datetime | None = None) -> None:
        """Record activity on a session (callers throttle it)."""

    async def get_session(self, session_id: str, *, now: datetime | None = None) -> SessionRecord | None:
        """A live session by ID."""

    async def switch_organization(self, session_id: str, organization_id: str) -> bool:
        """Make `organization_id` the session's active organisation (the caller checks membership)."""

    async def list_sessions(self, user_id: str, *, now: datetime | None = None) -> list[SessionRecord]:
        """A user's live sessions, newest first."""

    async def revoke_session(self, session_id: str, reason: str, *, now: datetime | None = None) -> bool:
        """End a session and every token of it; False if it was not live."""

    async def aclose(self) -> None:
        """Release connections."""


@dataclass(frozen=True, slots=True)
class Lifetimes:
    """Token lifetimes, from settings."""

    access: timedelta
    refresh: timedelta
    remember: timedelta

    @classmethod
    def from_settings(cls, settings: Settings) -> Lifetimes:
        """The configured lifetimes."""
        return cls(
            access=timedelta(seconds=settings.session_access_ttl_s),
            refresh=timedelta(seconds=settings.session_refresh_ttl_s),
            remember=timedelta(seconds=settings.session_remember_ttl_s),
        )

    def refresh_for(self, *, remember: bool) -> timedelta:
        """How long a refresh token lives: 30 days with "remember me", 24 hours without (by default)."""
        return self.remember if remember else self.refresh


def new_token() -> str:
    """A random token for a cookie (256 bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def storable_hint(id_token_hint: str | None) -> str | None:
    """The ID token to keep for RP-initiated logout, or None when it would not fit."""
    return id_token_hint if id_token_hint and len(id_token_hint) <= MAX_ID_TOKEN_HINT else None


def hash_token(token: str) -> str:
    """SHA-256 hex of a token: what the stores keep. Tokens are random, so no salt or stretching is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


def create_session_store(settings: Settings, database: Database) -> SessionStore:
    """The database store on the embedded default; the Redis store (db0 of REDIS_URL) when REDIS_URL is set."""
    lifetimes = Lifetimes.from_settings(settings)
    if settings.redis_url:
        from shipyard.auth.redis_store import RedisSessionStore

        return RedisSessionStore(settings.redis_url, lifetimes)
    from shipyard.auth.db_store import DatabaseSessionStore

    return DatabaseSessionStore(database, lifetimes)
