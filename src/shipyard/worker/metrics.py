"""Metrics of the outbox and of webhook delivery (DESIGN §5), on a registry the caller chooses."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.events import repository as event_repository
from shipyard.models import WebhookDelivery
from shipyard.models.base import utcnow
from shipyard.webhooks import repository as webhook_repository
from shipyard.worker import repository as worker_repository

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0)


class JobMetrics:
    """Counters are updated by the jobs; gauges by `refresh`, which the relay calls now and then."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.outbox_backlog = Gauge(
            "shipyard_outbox_backlog",
            "Events committed but not yet relayed to webhook deliveries.",
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.oldest_pending_delivery_age = Gauge(
            "shipyard_webhook_oldest_pending_delivery_age_seconds",
            "How long the longest-waiting due webhook delivery has been due.",
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.disabled_endpoints = Gauge(
            "shipyard_webhook_disabled_endpoints",
            "Webhook endpoints switched off (by hand, by 410 Gone, or after failing every retry).",
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.deliveries = Counter(
            "shipyard_webhook_deliveries",
            "Webhook delivery attempts by result: succeeded, retrying, failed (for good), blocked (SSRF).",
            ["result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "shipyard_webhook_delivery_latency_seconds",
            "Time from sending a webhook request to its response (or failure).",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    async def refresh(self, session: AsyncSession) -> None:
        """Recompute the gauges from the database."""
        backlog, _ = await event_repository.backlog(session)
        self.outbox_backlog.set(backlog)
        oldest = await worker_repository.oldest_due(session, WebhookDelivery)
        self.oldest_pending_delivery_age.set(max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)
        self.disabled_endpoints.set(await webhook_repository.count_disabled(session))
