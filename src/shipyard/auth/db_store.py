"""The session store on the database: the embedded default (SQLite) or PostgreSQL without Redis.

Every operation but `create_session` runs in a short transaction of its own and commits at once:
a rotation must hold even when the request that asked for it fails later, and a revocation must
be visible to the next request. Rotation is a conditional UPDATE (`... WHERE used_at IS NULL`)
whose row count decides the winner, so two concurrent refreshes with one token cannot both succeed.
"""

from __future__ import annotations

import hmac
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import CursorResult, delete, or_, select, update

from shipyard.auth.store import (
    IssuedSession,
    Lifetimes,
    NewSession,
    Refused,
    Reused,
    Rotated,
    RotationOutcome,
    SessionRecord,
    hash_token,
    new_token,
    storable_hint,
)
from shipyard.kit.ids import new_id
from shipyard.models import AuthSession, AuthSessionToken, LoginAttempt
from shipyard.models.base import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from shipyard.kit.db import Database

ACCESS = "access"
REFRESH = "refresh"


def _record(row: AuthSession) -> SessionRecord:
    return SessionRecord(
        session_id=row.id,
        user_id=row.user_id,
        organization_id=row.organization_id,
        provider=row.provider,
        ip=row.ip,
        user_agent=row.user_agent,
        remember=row.remember,
        id_token_hint=row.id_token_hint,
        created_at=row.created_at,
        last_seen_at=row.last_seen_at,
        expires_at=row.expires_at,
    )


def _live(row: AuthSession | None, now: datetime) -> bool:
    return row is not None and row.revoked_at is None and row.expires_at > now


def _rowcount(result: Any) -> int:  # noqa: ANN401 - a CursorResult of an UPDATE or DELETE
    assert isinstance(result, CursorResult)  # noqa: S101 - DML always answers with a cursor result
    return int(result.rowcount)


class DatabaseSessionStore:
    """Sessions in `auth_sessions` / `auth_session_tokens`, logins in `auth_login_attempts`."""

    def __init__(self, database: Database, lifetimes: Lifetimes) -> None:
        self.database = database
        self.lifetimes = lifetimes

    # --- logins in flight --------------------------------------------------------------------

    async def save_login_attempt(self, state: str, browser_secret: str, data: dict[str, Any], ttl_s: int) -> None:
        """Store the login under the hash of its `state`, bound to the hash of the browser's secret."""
        now = utcnow()
        async with self.database.writer() as session:
            session.add(
                LoginAttempt(
                    state_hash=hash_token(state),
                    browser_hash=hash_token(browser_secret),
                    payload=json.dumps(data),
                    expires_at=now + timedelta(seconds=ttl_s),
                )
            )
            await session.commit()

    async def take_login_attempt(self, state: str, browser_secret: str) -> dict[str, Any] | None:
        """Delete the attempt and return its data if this browser started it and it has not expired."""
        async with self.database.writer() as session:
            result = await session.execute(
                delete(LoginAttempt)
                .where(LoginAttempt.state_hash == hash_token(state))
                .returning(LoginAttempt.browser_hash, LoginAttempt.payload, LoginAttempt.expires_at)
            )
            row = result.one_or_none()
            await session.commit()
        if row is None:
            return None
        browser_hash, payload, expires_at = row
        # Consumed whatever the outcome: a state is good for one try, from one browser.
        if not hmac.compare_digest(browser_hash, hash_token(browser_secret)) or expires_at <= utcnow():
            return None
        data: dict[str, Any] = json.loads(payload)
        return data

    # --- sessions ----------------------------------------------------------------------------

    async def create_session(self, db: AsyncSession, new: NewSession, *, now: datetime | None = None) -> IssuedSession:
        """Add the session and its first tokens to `db` (the request's transaction commits them with the user)."""
        now = now or utcnow()
        refresh_expires = now + self.lifetimes.refresh_for(remember=new.remember)
        issued = IssuedSession(
            session_id=new_id("ses"),
            access_token=new_token(),
            access_expires_at=min(now + self.lifetimes.access, refresh_expires),
            refresh_token=new_token(),
            refresh_expires_at=refresh_expires,
            remember=new.remember,
        )
        db.add(
            AuthSession(
                id=issued.session_id,
                user_id=new.user_id,
                organization_id=new.organization_id,
                provider=(new.provider or None) and new.provider[:64],
                ip=new.ip,
                user_agent=(new.user_agent or "")[:512] or None,
                remember=new.remember,
                id_token_hint=storable_hint(new.id_token_hint),
                created_at=now,
                last_seen_at=now,
                expires_at=refresh_expires,
            )
        )
        await db.flush()
        db.add_all(_token_rows(issued))
        await db.flush()
        return issued

    async def resolve_access(self, access_token: str, *, now: datetime | None = None) -> SessionRecord | None:
        """The live session behind an unexpired access token."""
        now = now or utcnow()
        async with self.database.reader() as session:
            row = (
                await session.execute(
                    select(AuthSession)
                    .join(AuthSessionToken, AuthSessionToken.session_id == AuthSession.id)
                    .where(
                        AuthSessionToken.token_hash == hash_token(access_token),
                        AuthSessionToken.kind == ACCESS,
                        AuthSessionToken.expires_at > now,
                    )
                )
            ).scalar_one_or_none()
        return _record(row) if row is not None and _live(row, now) else None

    async def find_by_refresh(self, refresh_token: str, *, now: datetime | None = None) -> SessionRecord | None:
        """The live session a refresh token belongs to, used or not."""
        now = now or utcnow()
        async with self.database.reader() as session:
            row = (
                await session.execute(
                    select(AuthSession)
                    .join(AuthSessionToken, AuthSessionToken.session_id == AuthSession.id)
                    .where(AuthSessionToken.token_hash == hash_token(refresh_token), AuthSessionToken.kind == REFRESH)
                )
            ).scalar_one_or_none()
        return _record(row) if row is not None and _live(row, now) else None

    async def rotate_refresh(self, refresh_token: str, *, now: datetime | None = None) -> RotationOutcome:
        """Mark the token used if (and only if) it is unused, then issue the next pair; reuse revokes the session."""
        now = now or utcnow()
        token_hash = hash_token(refresh_token)
        async with self.database.writer() as session:
            claimed = await session.execute(
                update(AuthSessionToken)
                .where(
                    AuthSessionToken.token_hash == token_hash,
                    AuthSessionToken.kind == REFRESH,
                    AuthSessionToken.used_at.is_(None),
                    AuthSessionToken.expires_at > now,
                )
                .values(used_at=now)
            )
            if _rowcount(claimed) == 1:
                outcome = await self._issue_next(session, token_hash, now)
            else:
                outcome = await self._explain_refusal(session, token_hash, now)
            if isinstance(outcome, Refused):
                await session.rollback()
            else:
                await session.commit()
        return outcome

    async def _issue_next(self, session: AsyncSession, token_hash: str, now: datetime) -> RotationOutcome:
        row = await _session_of(session, token_hash)
        if row is None or not _live(row, now):
            return Refused("session_expired")
        refresh_expires = now + self.lifetimes.refresh_for(remember=row.remember)
        issued = IssuedSession(
            session_id=row.id,
            access_token=new_token(),
            access_expires_at=min(now + self.lifetimes.access, refresh_expires),
            refresh_token=new_token(),
            refresh_expires_at=refresh_expires,
            remember=row.remember,
        )
        # The previous access token dies with the rotation: only the newest pair is ever valid.
        await session.execute(
            delete(AuthSessionToken).where(AuthSessionToken.session_id == row.id, AuthSessionToken.kind == ACCESS)
        )
        session.add_all(_token_rows(issued))
        row.expires_at = refresh_expires
        row.last_seen_at = now
        await session.flush()
        return Rotated(issued, _record(row))

    async def _explain_refusal(self, session: AsyncSession, token_hash: str, now: datetime) -> RotationOutcome:
        token = await session.get(AuthSessionToken, token_hash)
        if token is None or token.kind != REFRESH:
            return Refused("unknown_token")
        row = await session.get(AuthSession, token.session_id)
        if row is None or not _live(row, now):
            return Refused("session_expired")
        if token.used_at is None:
            return Refused("token_expired")
        # A rotated token came back: someone holds a copy. End the whole family.
        await _revoke(session, row.id, "refresh_reuse", now)
        return Reused(_record(row))

    async def touch(self, session_id: str, *, now: datetime | None = None) -> None:
        """Set `last_seen_at`."""
        async with self.database.writer() as session:
            await session.execute(
                update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=now or utcnow())
            )
            await session.commit()

    async def switch_organization(self, session_id: str, organization_id: str) -> bool:
        """Make `organization_id` the session's active organisation; False if the session is gone."""
        async with self.database.writer() as session:
            result = await session.execute(
                update(AuthSession)
                .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
                .values(organization_id=organization_id)
            )
            await session.commit()
        return _rowcount(result) == 1

    async def get_session(self, session_id: str, *, now: datetime | None = None) -> SessionRecord | None:
        """A live session by ID."""
        async with self.database.reader() as session:
            row = await session.get(AuthSession, session_id)
        return _record(row) if row is not None and _live(row, now or utcnow()) else None

    async def list_sessions(self, user_id: str, *, now: datetime | None = None) -> list[SessionRecord]:
        """The user's live sessions, newest first."""
        now = now or utcnow()
        async with self.database.reader() as session:
            rows = await session.scalars(
                select(AuthSession)
                .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
                .order_by(AuthSession.created_at.desc(), AuthSession.id.desc())
            )
            return [_record(row) for row in rows]

    async def revoke_session(self, session_id: str, reason: str, *, now: datetime | None = None) -> bool:
        """Mark the session revoked and drop its tokens."""
        async with self.database.writer() as session:
            revoked = await _revoke(session, session_id, reason, now or utcnow())
            await session.commit()
        return revoked

    async def aclose(self) -> None:
        """Nothing to release: the app's database owns the connections."""


def _token_rows(issued: IssuedSession) -> list[AuthSessionToken]:
    return [
        AuthSessionToken(
            token_hash=hash_token(issued.access_token),
            session_id=issued.session_id,
            kind=ACCESS,
            expires_at=issued.access_expires_at,
        ),
        AuthSessionToken(
            token_hash=hash_token(issued.refresh_token),
            session_id=issued.session_id,
            kind=REFRESH,
            expires_at=issued.refresh_expires_at,
        ),
    ]


async def _session_of(session: AsyncSession, token_hash: str) -> AuthSession | None:
    return (
        await session.execute(
            select(AuthSession)
            .join(AuthSessionToken, AuthSessionToken.session_id == AuthSession.id)
            .where(AuthSessionToken.token_hash == token_hash)
        )
    ).scalar_one_or_none()


async def _revoke(session: AsyncSession, session_id: str, reason: str, now: datetime) -> bool:
    result = await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
        # The provider's ID token (personal data) is kept for RP-initiated logout only: an ended session
        # has no more use for it, so it goes now rather than when the row is pruned.
        .values(revoked_at=now, revoked_reason=reason, id_token_hint=None)
    )
    # Access tokens go at once; refresh tokens stay until pruned, so a late copy is still recognised.
    await session.execute(
        delete(AuthSessionToken).where(AuthSessionToken.session_id == session_id, AuthSessionToken.kind == ACCESS)
    )
    return _rowcount(result) == 1


async def prune_expired(sessions: async_sessionmaker[AsyncSession], *, now: datetime | None = None) -> int:
    """Delete lapsed logins, ended sessions and lapsed tokens; returns how many rows went. For a periodic job."""
    now = now or utcnow()
    async with sessions() as session:
        deleted = 0
        for statement in (
            delete(LoginAttempt).where(LoginAttempt.expires_at <= now),
            delete(AuthSessionToken).where(
                AuthSessionToken.session_id.in_(
                    select(AuthSession.id).where(
                        or_(AuthSession.expires_at <= now, AuthSession.revoked_at.is_not(None))
                    )
                )
            ),
            delete(AuthSession).where(or_(AuthSession.expires_at <= now, AuthSession.revoked_at.is_not(None))),
            delete(AuthSessionToken).where(AuthSessionToken.expires_at <= now),
        ):
            deleted += _rowcount(await session.execute(statement))
        await session.commit()
    return deleted
