"""Recording audit events: in the caller's transaction, so an event exists exactly when its change does."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit import repository
from shipyard.audit.schemas import AuditFilter
from shipyard.error_reports import service as error_reports_service
from shipyard.identity.principal import ActorType, Principal
from shipyard.kit.context import current_request_context
from shipyard.models import AuditEvent

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
    context = current_request_context()
    event = AuditEvent(
        organization_id=principal.organization_id if principal else organization_id,
        actor_type=principal.actor_type if principal else ActorType.SYSTEM,
        actor_id=principal.user_id if principal else None,
        token_id=principal.token_id if principal else None,
        ip=context.ip if context else None,
        user_agent=(context.user_agent or "")[:512] if context else None,
        request_id=context.request_id if context else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        result=result,
        details=details or {},
    )
    repository.add(session, event)
    return event


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


async def list_events(
    session: AsyncSession,
    principal: Principal,
    filters: AuditFilter,
    *,
    limit: int,
    after_id: str | None,
    operator_slug: str | None = None,
) -> list[AuditEvent]:
    """A page of the principal's organisation's audit log.

    Members of the operator organisation (`operator_slug`) also read the deployment's own events, those
    of no organisation: failed sign-ins and unknown tokens, which nobody else could read through the API.
    """
    with_unowned = await error_reports_service.is_operator(session, principal, operator_slug)
    return await repository.list_events(
        session, principal.organization_id, filters, limit=limit, after_id=after_id, with_unowned=with_unowned
    )
