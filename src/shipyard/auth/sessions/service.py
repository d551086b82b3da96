"""Browser sessions, one level above the store: rotation, reuse detection, revocation, the account.

Used by `auth/sessions/cookie_auth.py` (the cookie principal), the session endpoints and the pages.
Nothing is cached: each request asks the store and re-reads the membership, so a revoked session or
a removed member is refused on the very next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shipyard.auth import audit
from shipyard.auth.failures import report_auth_failure
from shipyard.auth.sessions import csrf, repository
from shipyard.auth.sessions.schemas import AccountRead, IdentityRead, MembershipRead, ProfileRead
from shipyard.auth.sessions.store import Refused, Reused, Rotated, SessionRecord, SessionStore
from shipyard.identity import repository as identity_repository
from shipyard.identity import service as identity_service
from shipyard.identity.browser_sessions import session_expired
from shipyard.identity.schemas import OrganizationRead
from shipyard.kit.context import current_request_context
from shipyard.kit.problems import ProblemError, ResourceNotFoundError
from shipyard.models import Organization, User, UserIdentity

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shipyard.auth.sessions.store import IssuedSession
    from shipyard.identity.principal import Principal
    from shipyard.kit.db import Database
    from shipyard.models import Role
    from shipyard.settings import Settings

MEMBERSHIP_REMOVED = "membership_removed"


def client_ip() -> str | None:
    """The caller's IP, from the request context."""
    context = current_request_context()
    return context.ip if context else None


async def current_role(database: Database, record: SessionRecord) -> Role | None:
    """The user's role in the session's organisation today (None: no longer a member)."""
    async with database.reader() as session:
        return await identity_repository.get_role(session, record.organization_id, record.user_id)


async def rotate(
    store: SessionStore, database: Database, db: AsyncSession, refresh_token: str, *, now: datetime | None = None
) -> IssuedSession:
    """Exchange a refresh token for a new pair; reuse revokes the family, is audited and raises 401.

    Raises `ProblemError`: 401 `session_expired` (unknown, expired or revoked; or the person is no longer a
    member of the session's organisation) or 401 `refresh_token_reused`.
    """
    outcome = await store.rotate_refresh(refresh_token, now=now)
    if isinstance(outcome, Refused):
        raise session_expired()
    record = outcome.record
    if isinstance(outcome, Rotated) and await current_role(database, record) is None:
        # Removed from the organisation: refreshing must not revive the session.
        await store.revoke_session(record.session_id, MEMBERSHIP_REMOVED, now=now)
        raise session_expired("You are no longer a member of this organisation; sign in again.")
    if isinstance(outcome, Reused):
        fields: dict[str, Any] = {
            "user_id": record.user_id,
            "organization_id": record.organization_id,
            "provider": record.provider,
            "session_id": record.session_id,
        }
        # Its own transaction: the 401 below rolls the request's back, and this must stay on record.
        await audit.record_auth_event_now(database, audit.REFRESH_REUSE_DETECTED, reason="refresh_reuse", **fields)
        report_auth_failure(reason="refresh_reuse_detected", client_ip=client_ip(), **fields)
        raise ProblemError(
            401,
            "refresh_token_reused",
            "This refresh token was already used, so it may have been copied; the session has been ended. "
            "Sign in again.",
        )
    audit.record_auth_event(
        db,
        audit.SESSION_REFRESHED,
        user_id=record.user_id,
        organization_id=record.organization_id,
        provider=record.provider,
        session_id=record.session_id,
    )
    return outcome.issued


async def end_session(
    store: SessionStore, db: AsyncSession, record: SessionRecord, action: str, *, reason: str
) -> bool:
    """Revoke a session and audit `action` (LOGOUT or SESSION_REVOKED) in the request's transaction."""
    revoked = await store.revoke_session(record.session_id, reason)
    if revoked:
        audit.record_auth_event(
            db,
            action,
            user_id=record.user_id,
            organization_id=record.organization_id,
            provider=record.provider,
            session_id=record.session_id,
            details={"reason": reason},
        )
    return revoked


async def revoke_own_session(store: SessionStore, db: AsyncSession, user_id: str, session_id: str) -> None:
    """Sign out one of `user_id`'s sessions (audited); another person's answers 404, like a missing one."""
    record = await store.get_session(session_id)
    # Another person's session answers exactly like a missing one: its existence does not leak.
    if record is None or record.user_id != user_id:
        raise ResourceNotFoundError("session", session_id)
    await end_session(store, db, record, audit.SESSION_REVOKED, reason="revoked_by_user")


# --- the account's profile -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Account:
    """What `/api/v1/me` shows about a person."""

    user: User
    identities: list[UserIdentity]
    memberships: list[tuple[Organization, str]]


async def load_account(db: AsyncSession, user_id: str) -> Account | None:
    """The user, their sign-in identities and their organisations (with their role in each)."""
    user = await db.get(User, user_id)
    if user is None:
        return None
    identities = await repository.list_identities(db, user_id)
    return Account(user, identities, await repository.list_memberships(db, user_id))


async def account_read(session: AsyncSession, principal: Principal, settings: Settings) -> AccountRead:
    """`/api/v1/me`: the caller, its organisation and scopes, and the person's profile, identities, organisations."""
    organization = await identity_service.get_organization(session, principal)
    account = await load_account(session, principal.user_id)
    if organization is None or account is None:
        raise ResourceNotFoundError("organization", principal.organization_id)
    return AccountRead(
        actor_type=principal.actor_type.value,
        user_id=principal.user_id,
        token_id=principal.token_id,
        role=principal.role.value,
        scopes=sorted(principal.scopes),
        organization=OrganizationRead.model_validate(organization),
        profile=ProfileRead.model_validate(account.user),
        identities=[IdentityRead.model_validate(identity) for identity in account.identities],
        organizations=[
            MembershipRead(id=org.id, slug=org.slug, name=org.name, role=role) for org, role in account.memberships
        ],
        session_id=principal.session_id,
        csrf_token=csrf.csrf_token(principal.session_id, settings) if principal.session_id else None,
    )
