"""What a delivery attempt's outcome does: retry, success, failure, and disabling the endpoint."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit import service as audit
from shipyard.email import service as email_service
from shipyard.kit.ids import new_id
from shipyard.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WorkStatus
from shipyard.webhooks import repository
from shipyard.webhooks.delivery import Outcome
from shipyard.webhooks.retry import RetryPolicy

GONE = "gone"
FAILING = "failing"
BLOCKED = "blocked"


async def record(
    session: AsyncSession,
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    outcome: Outcome,
    policy: RetryPolicy,
    *,
    started_at: datetime,
    now: datetime,
) -> str | None:
    """Log the attempt and move the delivery on; returns why the endpoint was disabled, if it was."""
    repository.add(
        session,
        WebhookAttempt(
            id=new_id("wha"),
            delivery_id=delivery.id,
            number=delivery.attempts,
            started_at=started_at,
            latency_ms=outcome.latency_ms,
            status_code=outcome.status_code,
            response_body=outcome.response_body,
            error=outcome.error,
            outcome="succeeded" if outcome.succeeded else "failed",
        ),
    )
    delivery.last_status_code = outcome.status_code
    delivery.last_latency_ms = outcome.latency_ms
    delivery.last_error = outcome.error
    delivery.lease_token = None
    delivery.leased_until = None
    if outcome.succeeded:
        _finish(delivery, WorkStatus.SUCCEEDED, now)
        return None
    # A 410, or an address the SSRF guard refuses, ends the delivery at once: a retry cannot change it.
    final = outcome.gone or outcome.blocked
    delay = None if final else policy.delay_after(delivery.attempts, outcome.retry_after_s)
    if delay is not None:
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        return None
    _finish(delivery, WorkStatus.FAILED, now)
    reason = GONE if outcome.gone else BLOCKED if outcome.blocked else FAILING
    await disable(session, endpoint, reason, now=now, delivery_id=delivery.id)
    return reason


def abandon(delivery: WebhookDelivery, reason: str, now: datetime) -> None:
    """Fail a delivery without sending it (its endpoint was disabled or deleted meanwhile)."""
    delivery.last_error = reason
    delivery.lease_token = None
    delivery.leased_until = None
    _finish(delivery, WorkStatus.FAILED, now)


def _finish(delivery: WebhookDelivery, status: WorkStatus, now: datetime) -> None:
    delivery.status = status
    delivery.completed_at = now


async def disable(
    session: AsyncSession, endpoint: WebhookEndpoint, reason: str, *, now: datetime, delivery_id: str | None
) -> None:
    """Switch the endpoint off, record it in the audit log and tell the organisation's owners by email."""
    if not endpoint.enabled:
        return
    endpoint.enabled = False
    endpoint.disabled_reason = reason
    endpoint.disabled_at = now
    audit.record(
        session,
        None,
        "webhook_endpoint.disabled",
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        details={"reason": reason, "delivery_id": delivery_id},
        organization_id=endpoint.organization_id,
    )
    await email_service.notify_endpoint_disabled(session, endpoint.organization_id, endpoint.url, reason)
    await session.flush()
