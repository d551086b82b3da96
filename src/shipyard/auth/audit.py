"""Audit events for sign-in and sessions, each with a sentence a person can read.

Every event carries the provider, IP, user agent, time and request ID (the latter three through the
request context, as for every audit event). Failures are recorded in a transaction of their own,
because the request's own transaction rolls back with the refusal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit import service as audit_service
from shipyard.identity.principal import ActorType
from shipyard.kit.context import current_request_context
from shipyard.kit.db import Database
from shipyard.models import AuditEvent

LOGIN_SUCCEEDED = "auth.login_succeeded"
LOGIN_FAILED = "auth.login_failed"
LOGOUT = "auth.logout"
SESSION_REFRESHED = "session.refreshed"
REFRESH_REUSE_DETECTED = "session.refresh_reuse_detected"
SESSION_REVOKED = "session.revoked"
IDENTITY_LINKED = "identity.linked"

_SENTENCES = {
    LOGIN_SUCCEEDED: "login via {provider}",
    LOGIN_FAILED: "failed login via {provider} ({reason})",
    LOGOUT: "logout",
    SESSION_REFRESHED: "session refreshed",
    REFRESH_REUSE_DETECTED: "reuse of a rotated refresh token: session revoked",
    SESSION_REVOKED: "session revoked",
    IDENTITY_LINKED: "{provider} identity linked",
}


def summary(action: str, *, provider: str | None, reason: str | None, at: datetime, ip: str | None) -> str:
    """The sentence the audit list shows, e.g. `login via google at 2026-11-22T10:00:00Z from 203.0.113.9`."""
    sentence = _SENTENCES.get(action, action).format(provider=provider or "sign-in", reason=reason or "unknown")
    return f"{sentence} at {at.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')} from {ip or 'an unknown address'}"


def record_auth_event(
    session: AsyncSession,
    action: str,
    *,
    user_id: str | None,
    organization_id: str | None,
    provider: str | None = None,
    reason: str | None = None,
    session_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append an auth event to `session`'s transaction, acted by the user (or by nobody yet, on a failure)."""
    context = current_request_context()
    now = datetime.now(UTC)
    event_details = {
        **(details or {}),
        "provider": provider,
        "summary": summary(action, provider=provider, reason=reason, at=now, ip=context.ip if context else None),
    }
    if reason is not None:
        event_details["reason"] = reason
    event = audit_service.record(
        session,
        None,
        action,
        target_type="session" if session_id else ("user" if user_id else None),
        target_id=session_id or user_id,
        result=audit_service.FAILURE if action in {LOGIN_FAILED, REFRESH_REUSE_DETECTED} else audit_service.SUCCESS,
        details=event_details,
        organization_id=organization_id,
    )
    event.actor_type = ActorType.USER if user_id else ActorType.SYSTEM
    event.actor_id = user_id
    event.occurred_at = now
    return event


async def record_auth_event_now(database: Database, action: str, **fields: Any) -> None:  # noqa: ANN401 - forwarded as is
    """Record an auth event in a transaction of its own (for refusals, whose request rolls back)."""
    async with database.writer() as session:
        record_auth_event(session, action, **fields)
        await session.commit()
