"""Metrics of the jobs, the outbox, webhook delivery and the database pool, on a registry the caller chooses.

Counters and histograms are updated where the thing happens. The gauges that need a query (queue
depth and age, outbox backlog, disabled endpoints) are recomputed by `refresh`, which every process
running a runtime calls every `METRICS_REFRESH_S`: a handful of aggregate queries, never one per
scrape. Under gunicorn they are `livemostrecent`, so `/metrics` shows the latest refresh of a live
process and never a value a dead worker left behind (docs/decisions/0020).
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.kit.pool_metrics import PoolMetrics
from shipyard.models import EmailMessage, WebhookDelivery
from shipyard.models.base import utcnow
from shipyard.worker import repository as worker_repository

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)
# From seconds (delivered at once) to the ~3-day retry schedule's end.
EVENT_TO_RECEIPT_BUCKETS = (0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 1800.0, 3600.0, 21600.0, 86400.0, 259200.0)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0)
# The queues a worker drains, named after the job that drains them; the outbox is the relay's.
OUTBOX_QUEUE = "outbox.relay"
DELIVERY_QUEUE = "webhooks.deliver"
EMAIL_QUEUE = "email.send"
REFRESHED: Final = "livemostrecent"


class JobMetrics:
    """Counters are updated by the jobs; gauges by `refresh`, which the runtime calls now and then."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.outbox_backlog = self._gauge("shipyard_outbox_backlog", "Events committed but not yet relayed.")
        self.outbox_oldest_age = self._gauge(
            "shipyard_outbox_oldest_age_seconds", "Age of the oldest event not yet relayed (0 when none waits)."
        )
        self.queue_depth = self._gauge(
            "shipyard_job_queue_depth", "Work that is due and not done, per queue.", ["queue"]
        )
        self.queue_oldest_age = self._gauge(
            "shipyard_job_queue_oldest_age_seconds",
            "How long the longest-waiting due item of a queue has been due (0 when none is).",
            ["queue"],
        )
        self.oldest_pending_delivery_age = self._gauge(
            "shipyard_webhook_oldest_pending_delivery_age_seconds",
            "How long the longest-waiting due webhook delivery has been due.",
        )
        self.disabled_endpoints = self._gauge(
            "shipyard_webhook_disabled_endpoints",
            "Webhook endpoints switched off (by hand, by 410 Gone, or after failing every retry).",
        )
        self.deliveries = Counter(
            "shipyard_webhook_deliveries",
            "Webhook delivery attempts by result: delivered, retrying, failed (for good), gone (410), blocked (SSRF).",
            ["result"],
            registry=self.registry,
        )
        self.endpoints_disabled = Counter(
            "shipyard_webhook_endpoints_disabled",
            "Webhook endpoints switched off by delivery, by reason: gone (410) or failing (retries exhausted).",
            ["reason"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "shipyard_webhook_delivery_latency_seconds",
            "Time from sending a webhook request to its response (or failure).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.event_to_receipt = Histogram(
            "shipyard_webhook_event_to_receipt_seconds",
            "Time from the event's commit to the endpoint's 2xx, retries included.",
            buckets=EVENT_TO_RECEIPT_BUCKETS,
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "shipyard_job_duration_seconds",
            "How long a job ran, by job name and outcome (succeeded, failed, interrupted).",
            ["job", "outcome"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )
        self.pools = PoolMetrics(self.registry)
        self.lease_expiries = Counter(
            "shipyard_job_lease_expiries",
            "Leased work taken up again because its lease ran out (a worker died or a message was lost).",
            ["queue"],
            registry=self.registry,
        )

    def observe_delivery(
        self, result: str, latency_ms: float, disabled_reason: str | None, *, event_created_at: datetime
    ) -> None:
        """Count one delivery attempt; a receipt also measures the time since its event was committed."""
        self.deliveries.labels(result=result).inc()
        self.latency.observe(latency_ms / 1000)
        if result == "delivered":
            self.event_to_receipt.observe(max(0.0, (utcnow() - event_created_at).total_seconds()))
        if disabled_reason is not None:
            self.endpoints_disabled.labels(reason=disabled_reason).inc()

    def _gauge(self, name: str, documentation: str, labels: list[str] | None = None) -> Gauge:
        return Gauge(name, documentation, labels or [], registry=self.registry, multiprocess_mode=REFRESHED)

    async def refresh(self, session: AsyncSession) -> None:
        """Recompute the gauges from the database."""
        now = utcnow()
        backlog, oldest_event = await worker_repository.outbox_backlog(session)
        self.outbox_backlog.set(backlog)
        outbox_age = max(0.0, (now - oldest_event).total_seconds()) if oldest_event else 0.0
        self.outbox_oldest_age.set(outbox_age)
        self.queue_depth.labels(queue=OUTBOX_QUEUE).set(backlog)
        self.queue_oldest_age.labels(queue=OUTBOX_QUEUE).set(outbox_age)
        deliveries = await worker_repository.due_backlog(session, WebhookDelivery, now=now)
        emails = await worker_repository.due_backlog(session, EmailMessage, now=now)
        for queue, (depth, oldest) in ((DELIVERY_QUEUE, deliveries), (EMAIL_QUEUE, emails)):
            age = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
            self.queue_depth.labels(queue=queue).set(depth)
            self.queue_oldest_age.labels(queue=queue).set(age)
            if queue == DELIVERY_QUEUE:
                self.oldest_pending_delivery_age.set(age)
        self.disabled_endpoints.set(await worker_repository.count_disabled_endpoints(session))
