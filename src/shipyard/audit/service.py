"""The audit log: reading it, and (re-exported from `identity/audit_trail.py`) recording into it.

Events are recorded in the caller's transaction, so an event exists exactly when its change does.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit import repository
from shipyard.audit.schemas import AuditFilter
from shipyard.error_reports import service as error_reports_service
from shipyard.identity.audit_trail import FAILURE, SUCCESS, record, record_auth_failure, row_values
from shipyard.identity.principal import Principal
from shipyard.models import AuditEvent

# Recording lives in identity (which records too); domains keep importing it from here.
__all__ = ["FAILURE", "SUCCESS", "list_events", "record", "record_auth_failure", "row_values"]


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
