"""Writing the audit trail: an event appended to the caller's transaction, so it exists exactly when its change does.

It sits in `identity` (below the domains) because identity itself records events (tokens created and
revoked, refused credentials), and every domain records through it; `audit/` reads the trail and
re-exports these names, so domains keep writing `audit.record(...)`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.identity.principal import ActorType, Principal
from shipyard.kit.context import current_request_context
from shipyard.kit.ids import new_id
from shipyard.models import AuditEvent
from shipyard.models.base import utcnow

SUCCESS = "success"
FAILURE = "failure"


def record(
    session: AsyncSession,
    principal: Principal | None,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    result: str = SUCCESS,
    details: dict[str, Any] | None = None,
    organization_id: str | None = None,
) -> AuditEvent:
    """Append an audit event for `action` by `principal` (or the system) to the session's transaction."""
    event = AuditEvent(
        **row_values(
            principal,
            action,
            target_type=target_type,
            target_id=target_id,
            result=result,
            details=details,
            organization_id=organization_id,
        )
    )
    session.add(event)
    return event


def row_values(
    principal: Principal | None,
    action: str,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    result: str = SUCCESS,
    details: dict[str, Any] | None = None,
    organization_id: str | None = None,
) -> dict[str, Any]:
    """The columns of the audit event `record` would add, for a caller that inserts it in its own statement.

    The caller must insert it in the transaction of the change it records (invoice creation inserts
    it in the statement that numbers the invoice, invoices/repository.py).
    """
    context = current_request_context()
    return {
        "id": new_id("aud"),
        "organization_id": principal.organization_id if principal else organization_id,
        "actor_type": principal.actor_type if principal else ActorType.SYSTEM,
        "actor_id": principal.user_id if principal else None,
        "token_id": principal.token_id if principal else None,
        "ip": context.ip if context else None,
        "user_agent": (context.user_agent or "")[:512] if context else None,
        "request_id": context.request_id if context else None,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "result": result,
        "details": details or {},
        "occurred_at": utcnow(),
    }


def record_auth_failure(
    session: AsyncSession,
    reason: str,
    *,
    token_id: str | None = None,
    organization_id: str | None = None,
) -> AuditEvent:
    """Append a refused-credential event; callers commit it in a transaction of its own (the request's rolls back)."""
    event = record(
        session,
        None,
        "auth.token_rejected",
        target_type="api_token" if token_id else None,
        target_id=token_id,
        result=FAILURE,
        details={"reason": reason},
        organization_id=organization_id,
    )
    # The actor is the presented token (when it could be identified), not the system.
    event.actor_type = ActorType.TOKEN
    event.token_id = token_id
    return event
