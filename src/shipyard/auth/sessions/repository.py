"""Every query for browser sessions: sessions, their tokens, logins in flight, and a person's account.

The database store (`database_store.py`) owns the transactions and calls these inside them; nothing
here commits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import CursorResult, delete, or_, select, update

from shipyard.models import AuthSession, AuthSessionToken, LoginAttempt, Membership, Organization, UserIdentity

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from sqlalchemy import Row
    from sqlalchemy.ext.asyncio import AsyncSession

ACCESS = "access"
REFRESH = "refresh"


def _rowcount(result: Any) -> int:  # noqa: ANN401 - a CursorResult of an UPDATE or DELETE
    assert isinstance(result, CursorResult)  # noqa: S101 - DML always answers with a cursor result
    return int(result.rowcount)


# --- logins in flight ----------------------------------------------------------------------------


async def take_login_attempt(session: AsyncSession, state_hash: str) -> Row[str, str, datetime] | None:
    """Delete the login saved under `state_hash`; its (browser hash, payload, expiry), or None if unknown."""
    result = await session.execute(
        delete(LoginAttempt)
        .where(LoginAttempt.state_hash == state_hash)
        .returning(LoginAttempt.browser_hash, LoginAttempt.payload, LoginAttempt.expires_at)
    )
    return result.one_or_none()


# --- sessions and their tokens -------------------------------------------------------------------


async def session_of_access_token(session: AsyncSession, token_hash: str, now: datetime) -> AuthSession | None:
    """The session behind an unexpired access token (live or not: the caller checks)."""
    return (
        await session.execute(
            select(AuthSession)
            .join(AuthSessionToken, AuthSessionToken.session_id == AuthSession.id)
            .where(
                AuthSessionToken.token_hash == token_hash,
                AuthSessionToken.kind == ACCESS,
                AuthSessionToken.expires_at > now,
            )
        )
    ).scalar_one_or_none()


async def session_of_refresh_token(session: AsyncSession, token_hash: str) -> AuthSession | None:
    """The session a refresh token belongs to, used or not."""
    return (
        await session.execute(
            select(AuthSession)
            .join(AuthSessionToken, AuthSessionToken.session_id == AuthSession.id)
            .where(AuthSessionToken.token_hash == token_hash, AuthSessionToken.kind == REFRESH)
        )
    ).scalar_one_or_none()


async def session_of_token(session: AsyncSession, token_hash: str) -> AuthSession | None:
    """The session a token of either kind belongs to."""
    return (
        await session.execute(
            select(AuthSession)
            .join(AuthSessionToken, AuthSessionToken.session_id == AuthSession.id)
            .where(AuthSessionToken.token_hash == token_hash)
        )
    ).scalar_one_or_none()


async def get_token(session: AsyncSession, token_hash: str) -> AuthSessionToken | None:
    """A token by its hash."""
    return await session.get(AuthSessionToken, token_hash)


async def get_session(session: AsyncSession, session_id: str) -> AuthSession | None:
    """A session by ID (live or not: the caller checks)."""
    return await session.get(AuthSession, session_id)


async def claim_refresh_token(session: AsyncSession, token_hash: str, now: datetime) -> bool:
    """Mark an unused, unexpired refresh token used; True for the one caller whose UPDATE changed the row."""
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
    return _rowcount(claimed) == 1


async def delete_access_tokens(session: AsyncSession, session_id: str) -> None:
    """Drop a session's access tokens (a rotation or a revocation ends them)."""
    await session.execute(
        delete(AuthSessionToken).where(AuthSessionToken.session_id == session_id, AuthSessionToken.kind == ACCESS)
    )


async def touch(session: AsyncSession, session_id: str, now: datetime) -> None:
    """Set a session's `last_seen_at`."""
    await session.execute(update(AuthSession).where(AuthSession.id == session_id).values(last_seen_at=now))


async def list_live_sessions(session: AsyncSession, user_id: str, now: datetime) -> Sequence[AuthSession]:
    """A user's live sessions, newest first."""
    rows = await session.scalars(
        select(AuthSession)
        .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
        .order_by(AuthSession.created_at.desc(), AuthSession.id.desc())
    )
    return rows.all()


async def revoke(session: AsyncSession, session_id: str, reason: str, now: datetime) -> bool:
    """Mark a live session revoked and drop its access tokens; False if it was not live."""
    result = await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None), AuthSession.expires_at > now)
        # The provider's ID token (personal data) is kept for RP-initiated logout only: an ended session
        # has no more use for it, so it goes now rather than when the row is pruned.
        .values(revoked_at=now, revoked_reason=reason, id_token_hint=None)
    )
    # Access tokens go at once; refresh tokens stay until pruned, so a late copy is still recognised.
    await delete_access_tokens(session, session_id)
    return _rowcount(result) == 1


async def prune_expired(session: AsyncSession, now: datetime) -> int:
    """Delete lapsed logins, ended sessions and lapsed tokens; returns how many rows went."""
    deleted = 0
    for statement in (
        delete(LoginAttempt).where(LoginAttempt.expires_at <= now),
        delete(AuthSessionToken).where(
            AuthSessionToken.session_id.in_(
                select(AuthSession.id).where(or_(AuthSession.expires_at <= now, AuthSession.revoked_at.is_not(None)))
            )
        ),
        delete(AuthSession).where(or_(AuthSession.expires_at <= now, AuthSession.revoked_at.is_not(None))),
        delete(AuthSessionToken).where(AuthSessionToken.expires_at <= now),
    ):
        deleted += _rowcount(await session.execute(statement))
    return deleted


# --- the account ---------------------------------------------------------------------------------


async def list_identities(session: AsyncSession, user_id: str) -> list[UserIdentity]:
    """A user's sign-in identities, in the order they were first used."""
    identities = await session.scalars(
        select(UserIdentity).where(UserIdentity.user_id == user_id).order_by(UserIdentity.created_at)
    )
    return list(identities)


async def list_memberships(session: AsyncSession, user_id: str) -> list[tuple[Organization, str]]:
    """A user's organisations with their role in each, by name."""
    rows = await session.execute(
        select(Organization, Membership.role)
        .join(Membership, Membership.organization_id == Organization.id)
        .where(Membership.user_id == user_id)
        .order_by(Organization.name, Organization.id)
    )
    return [(organization, role) for organization, role in rows]


async def switch_organization(session: AsyncSession, session_id: str, organization_id: str) -> bool:
    """Point a live session at another organisation; False when it is gone or revoked."""
    result = await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(organization_id=organization_id)
    )
    return _rowcount(result) == 1
