"""The `webhooks.deliver` job: the boundary that commits around one webhook request."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import httpx2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shipyard.events import service as event_service
from shipyard.kit.logging import get_logger
from shipyard.models import WebhookDelivery
from shipyard.models.base import utcnow
from shipyard.settings import Settings
from shipyard.webhooks import delivery as http_delivery
from shipyard.webhooks import outcomes, repository
from shipyard.webhooks import service as webhook_service
from shipyard.webhooks.retry import RetryPolicy
from shipyard.webhooks.service import WebhookConfig
from shipyard.worker import repository as leases
from shipyard.worker.context import job_context
from shipyard.worker.metrics import JobMetrics

log = get_logger("shipyard.webhooks")
JOB = "webhooks.deliver"
# The lease outlives the request's timeout by this much, so a slow but live worker is never presumed dead.
RUN_MARGIN_S = 5.0


@dataclass(frozen=True, slots=True)
class DeliveryJobContext:
    """What a delivery needs, and nothing more of the job runtime."""

    settings: Settings
    writer: async_sessionmaker[AsyncSession]
    # The job runtime's client: no proxies from the environment, no redirects (the SSRF guard's terms).
    http: httpx2.AsyncClient
    webhooks: WebhookConfig
    retry: RetryPolicy
    metrics: JobMetrics


async def deliver(context: DeliveryJobContext, delivery_id: str, token: str) -> None:
    """Send one delivery if this job still holds it, and record what happened.

    The request is made outside any transaction: the lease, taken and committed first, keeps
    other workers off the row while it runs, and the result is written only if the lease is
    still ours, so a worker presumed dead cannot overwrite its successor's result.
    """
    settings = context.settings
    now = utcnow()
    mine = secrets.token_hex(16)
    async with context.writer() as session:
        delivery = await leases.take(
            session,
            WebhookDelivery,
            delivery_id,
            token=token,
            mine=mine,
            now=now,
            until=now + timedelta(seconds=max(settings.jobs_run_lease_s, settings.webhook_timeout_s + RUN_MARGIN_S)),
        )
        if delivery is None:
            return  # someone else has it (a duplicate or reclaimed message): nothing to do
        endpoint = await repository.endpoint_by_id(session, delivery.endpoint_id)
        event = await event_service.get(session, delivery.event_id)
        if endpoint is None or event is None or not endpoint.enabled:
            outcomes.abandon(delivery, "endpoint disabled before delivery", now)
            await session.commit()
            return
        message = http_delivery.Message(
            event_id=event.id,
            event_type=event.type,
            created_at=event.created_at,
            data=event.payload,
            url=endpoint.url,
            secrets=webhook_service.signing_secrets(endpoint, context.webhooks.box, now),
            loopback=webhook_service.may_reach_loopback(endpoint, settings),
        )
        request_id, attempt = delivery.request_id, delivery.attempts
        await session.commit()
    with job_context(JOB, request_id, delivery_id=delivery_id, event_id=message.event_id, attempt=attempt):
        started = utcnow()
        outcome = await http_delivery.send(
            context.http,
            context.webhooks.guard,
            message,
            max_body=settings.webhook_response_max_bytes,
            timeout_s=settings.webhook_timeout_s,
        )
        async with context.writer() as session:
            delivery = await leases.held(session, WebhookDelivery, delivery_id, mine)
            endpoint = await repository.endpoint_by_id(session, delivery.endpoint_id) if delivery else None
            if delivery is None or endpoint is None:
                # Presumed dead and replaced (or the endpoint was deleted): the successor's result stands.
                log.warning("webhook_lease_lost", status_code=outcome.status_code)
                return
            disabled = await outcomes.record(
                session, delivery, endpoint, outcome, context.retry, started_at=started, now=utcnow()
            )
            status = delivery.status
            await session.commit()
        result = _result(outcome, status)
        context.metrics.observe_delivery(result, outcome.latency_ms, disabled, event_created_at=message.created_at)
        log.info(
            "webhook_attempt",
            result=result,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error,
            endpoint_disabled=disabled,
        )


def _result(outcome: http_delivery.Outcome, status: str) -> str:
    if outcome.succeeded:
        return "delivered"
    if outcome.gone:
        return "gone"
    if outcome.blocked:
        return "blocked"
    return "retrying" if status == "pending" else "failed"
