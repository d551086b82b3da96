"""The `webhooks.deliver` job: one webhook request between two transactions that jobs share (webhooks/batch.py)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import httpx2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shipyard.kit.logging import get_logger
from shipyard.models.base import utcnow
from shipyard.settings import Settings
from shipyard.webhooks import batch
from shipyard.webhooks import delivery as http_delivery
from shipyard.webhooks.retry import RetryPolicy
from shipyard.webhooks.service import WebhookConfig
from shipyard.worker.coalesce import Coalescer
from shipyard.worker.context import job_context
from shipyard.worker.metrics import JobMetrics

log = get_logger("shipyard.webhooks")
JOB = batch.JOB


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


class DeliveryJob:
    """`webhooks.deliver(delivery_id, token)` for one runtime, whose concurrent jobs share their transactions."""

    def __init__(self, context: DeliveryJobContext) -> None:
        self.context = context
        size = max(1, context.settings.jobs_batch_size)
        self._take = Coalescer(partial(batch.take, context), max_batch=size)
        self._record = Coalescer(partial(batch.record, context), max_batch=size)

    async def __call__(self, delivery_id: str, token: str) -> None:
        """Send one delivery if this job still holds it, and record what happened.

        The request is made outside any transaction: the lease, taken and committed first, keeps
        other workers off the row while it runs, and the result is written only if the lease is
        still ours, so a worker presumed dead cannot overwrite its successor's result.
        """
        context = self.context
        settings = context.settings
        taken = await self._take.submit((delivery_id, token))
        if taken is None:
            return  # someone else has it (a duplicate or reclaimed message), or it was failed unsent
        message = taken.message
        with job_context(
            JOB, taken.request_id, delivery_id=delivery_id, event_id=message.event_id, attempt=taken.attempt
        ):
            started = utcnow()
            outcome = await http_delivery.send(
                context.http,
                context.webhooks.guard,
                message,
                max_body=settings.webhook_response_max_bytes,
                timeout_s=settings.webhook_timeout_s,
                checked=taken.checked,
            )
            recorded = await self._record.submit(batch.Attempted(taken, outcome, started))
            if recorded is None:
                log.warning("webhook_lease_lost", status_code=outcome.status_code)
                return
            result = _result(outcome, recorded.status)
            context.metrics.observe_delivery(
                result, outcome.latency_ms, recorded.disabled, event_created_at=message.created_at
            )
            log.info(
                "webhook_attempt",
                result=result,
                status_code=outcome.status_code,
                latency_ms=outcome.latency_ms,
                error=outcome.error,
                endpoint_disabled=recorded.disabled,
            )


def _result(outcome: http_delivery.Outcome, status: str) -> str:
    if outcome.succeeded:
        return "delivered"
    if outcome.gone:
        return "gone"
    if outcome.blocked:
        return "blocked"
    return "retrying" if status == "pending" else "failed"
