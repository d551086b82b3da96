"""The job, outbox and delivery metrics appear on the app's /metrics and move when their thing happens."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from shipyard.models import WebhookDelivery, WebhookEndpoint, WorkStatus
from shipyard.models.base import utcnow
from shipyard.worker.metrics import JobMetrics
from tests.fixtures.jobs import eventually, runtime_of
from tests.fixtures.receiver import Reply
from tests.webhooks.conftest import Hooked


def _value(text: str, name: str) -> float | None:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


async def _scraped_when(hooked: Hooked, name: str, expected: float) -> str:
    async def scraped() -> str | None:
        text = (await hooked.client.get("/metrics")).text
        return text if _value(text, name) == expected else None

    return await eventually(scraped)


async def test_delivery_results_latency_backlog_and_disabled_endpoints_are_exported(hooked: Hooked) -> None:
    await hooked.create_customer()
    await hooked.receiver.wait_for(1)
    # "delivered" was "succeeded" before issue 18: the results now read delivered/retrying/failed/gone.
    text = await _scraped_when(hooked, 'shipyard_webhook_deliveries_total{result="delivered"}', 1.0)
    assert _value(text, "shipyard_webhook_delivery_latency_seconds_count") == 1.0
    assert _value(text, "shipyard_webhook_event_to_receipt_seconds_count") == 1.0
    assert _value(text, 'shipyard_job_duration_seconds_count{job="webhooks.deliver",outcome="succeeded"}') == 1.0
    async with hooked.app.state.database.writer() as session:
        await session.execute(update(WebhookEndpoint).values(enabled=False))
        await session.commit()
    runtime = runtime_of(hooked.app)
    async with hooked.app.state.database.reader() as session:
        await runtime.metrics.refresh(session)
    text = (await hooked.client.get("/metrics")).text
    assert _value(text, "shipyard_webhook_disabled_endpoints") == 1.0
    assert _value(text, "shipyard_outbox_backlog") == 0.0
    assert _value(text, "shipyard_outbox_oldest_age_seconds") == 0.0
    assert _value(text, "shipyard_webhook_oldest_pending_delivery_age_seconds") == 0.0
    assert _value(text, 'shipyard_job_queue_depth{queue="webhooks.deliver"}') == 0.0


async def test_a_410_counts_as_gone_and_disables_the_endpoint(hooked: Hooked) -> None:
    hooked.receiver.script = lambda _request: Reply(status=410)
    await hooked.create_customer()
    text = await _scraped_when(hooked, 'shipyard_webhook_deliveries_total{result="gone"}', 1.0)
    assert _value(text, 'shipyard_webhook_endpoints_disabled_total{reason="gone"}') == 1.0
    assert _value(text, "shipyard_webhook_event_to_receipt_seconds_count") == 0.0


async def test_queue_depth_and_age_count_due_work_and_an_expired_lease_is_counted_when_retaken(
    hooked: Hooked,
) -> None:
    await hooked.create_customer()
    await hooked.receiver.wait_for(1)
    await _scraped_when(hooked, 'shipyard_webhook_deliveries_total{result="delivered"}', 1.0)
    due_since = utcnow() - timedelta(seconds=120)
    # The delivery is due again, still leased by a worker that vanished a second ago.
    abandoned = {
        "status": WorkStatus.PENDING,
        "next_attempt_at": due_since,
        "leased_until": utcnow() - timedelta(seconds=1),
        "lease_token": "0" * 32,
    }
    metrics = JobMetrics()
    async with hooked.app.state.database.writer() as session:
        await session.execute(update(WebhookDelivery).values(**abandoned))
        # Measured inside the uncommitted transaction, so the running relay cannot take the row first.
        await metrics.refresh(session)
        await session.commit()
    assert metrics.registry.get_sample_value("shipyard_job_queue_depth", {"queue": "webhooks.deliver"}) == 1
    age = metrics.registry.get_sample_value("shipyard_job_queue_oldest_age_seconds", {"queue": "webhooks.deliver"})
    assert age is not None
    assert 119 <= age < 180
    assert metrics.registry.get_sample_value("shipyard_webhook_oldest_pending_delivery_age_seconds") == age
    await _scraped_when(hooked, 'shipyard_job_lease_expiries_total{queue="webhooks.deliver"}', 1.0)
    await hooked.receiver.wait_for(2)
