"""Browser sessions on the embedded default (with REDIS_URL they live in Valkey/Redis db0 instead).

A session is one sign-in on one device: a family of short access tokens and rotating refresh
tokens. Only SHA-256 hashes of the tokens are stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.models.base import Base, id_column, utcnow


class AuthSession(Base):
    """One sign-in on one device; revoking it ends every token of its family."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = id_column("ses")
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The organisation the session acts in (the Principal's).
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    provider: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    remember: Mapped[bool] = mapped_column(default=False)
    # For RP-initiated logout at the provider (an ID token is no secret that grants access).
    id_token_hint: Mapped[str | None] = mapped_column(String(4096))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the current refresh token lapses: the session's end unless it is refreshed.
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(32))


class AuthSessionToken(Base):
    """An access or refresh token of a session, by hash. A used refresh token stays, to catch reuse."""

    __tablename__ = "auth_session_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "access" or "refresh"
    expires_at: Mapped[datetime]
    # Set when a refresh token is exchanged; presenting it again is reuse.
    used_at: Mapped[datetime | None]


class LoginAttempt(Base):
    """A sign-in in flight: the one-time `state`, the nonce and the PKCE verifier, bound to the browser."""

    __tablename__ = "auth_login_attempts"

    # SHA-256 of the `state` sent to the provider.
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # SHA-256 of the random value in the browser's login cookie: the callback must come from it.
    browser_hash: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(String(4096))  # JSON: nonce, code_verifier, provider, remember, return_to
    expires_at: Mapped[datetime] = mapped_column(index=True)
