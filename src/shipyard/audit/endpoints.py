"""Routes for `/api/v1/audit-events` (read-only: the log is append-only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from shipyard.audit import service as audit_service
from shipyard.audit.schemas import AuditEventRead, AuditFilter
from shipyard.error_reports import service as error_reports_service
from shipyard.identity.auth import AuditRead
from shipyard.kit.api import API_V1
from shipyard.kit.deps import AppSettings, DBSession
from shipyard.kit.pagination import Page, PageParams, PageWriter, page_params_for
from shipyard.kit.problems import problem_responses
from shipyard.kit.types import Timestamp

if TYPE_CHECKING:
    from shipyard.models import AuditEvent

router = APIRouter(prefix=f"{API_V1}/audit-events", tags=["audit"], responses=problem_responses(401, 403))
Paging = Annotated[PageParams, Depends(page_params_for("aud"))]
Text = Annotated[str | None, Query(max_length=64)]
AUDIT_PAGE = PageWriter(AuditEventRead)


def listed_event(event: AuditEvent) -> dict[str, Any]:
    """An audit event as `AuditEventRead` shows it, keys in its field order (tests/audit/test_page_json.py)."""
    return {
        "id": event.id,
        "object": "audit_event",
        "occurred_at": event.occurred_at,
        "action": event.action,
        "result": event.result,
        "actor_type": event.actor_type,
        "actor_id": event.actor_id,
        "token_id": event.token_id,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "ip": event.ip,
        "user_agent": event.user_agent,
        "request_id": event.request_id,
        "details": event.details,
    }


@router.get("", response_model=Page[AuditEventRead], responses=problem_responses(400, 422))
async def list_audit_events(
    principal: AuditRead,
    session: DBSession,
    paging: Paging,
    settings: AppSettings,
    action: Annotated[str | None, Query(max_length=64, description="e.g. customer.created")] = None,
    actor_id: Text = None,
    target_type: Text = None,
    target_id: Text = None,
    # Aware only: a time without a zone is ambiguous, and a 422 beats guessing.
    occurred_after: Annotated[Timestamp | None, Query(description="At or after (RFC 3339, with zone).")] = None,
    occurred_before: Annotated[Timestamp | None, Query(description="Before (RFC 3339, with zone).")] = None,
) -> Response:
    """The organisation's audit events, newest first.

    Members of the operator organisation (`SHIPYARD_OPERATOR_ORG`) also see the events that belong to no
    organisation: failed sign-ins (`auth.login_failed`) and refused tokens that match no organisation.
    """
    filters = AuditFilter(
        action=action,
        actor_id=actor_id,
        target_type=target_type,
        target_id=target_id,
        occurred_after=occurred_after,
        occurred_before=occurred_before,
    )
    events = await audit_service.list_events(
        session,
        principal,
        filters,
        limit=paging.limit,
        after_id=paging.after_id,
        operator_slug=error_reports_service.operator_org(settings),
    )
    return AUDIT_PAGE.response(map(listed_event, events), paging.limit)
