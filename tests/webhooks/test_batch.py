"""Deliveries taken and recorded in shared transactions, under a kill -9 of the worker holding a batch.

Real `python -m shipyard.worker` subprocesses on the in-process transport (the bench's setup), the
suite's receiver on loopback. A worker killed while a whole batch of its requests is at the receiver
loses none of them: each is sent again once its lease runs out, with the same `webhook-id`, so a
receiver that dedupes on it processes every event exactly once.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from shipyard.events import service as event_service
from shipyard.identity.principal import Principal
from shipyard.identity.scopes import ROLE_SCOPES
from shipyard.models import Event, Role, WebhookAttempt, WebhookDelivery
from shipyard.settings import Settings
from tests.fixtures.jobs import eventually, fast, jobs_app
from tests.fixtures.receiver import Received, Receiver, Reply
from tests.fixtures.tenants import create_tenant
from tests.fixtures.workers import processes, start

pytestmark = pytest.mark.slow

EVENTS = 40
CONCURRENCY = 8


async def test_a_worker_killed_with_a_batch_at_the_receiver_loses_nothing_and_resends_only_that_batch(
    settings: Settings, tmp_path: Path
) -> None:
    release = asyncio.Event()
    processed: set[str] = set()  # what a receiver that dedupes on webhook-id acts on

    async def hold_until_released(request: Received) -> Reply:
        await asyncio.wait_for(release.wait(), 60)
        processed.add(request.webhook_id)
        return Reply()

    s = fast(
        settings,
        jobs_embedded=False,  # the test process only produces; the subprocesses work
        jobs_concurrency=CONCURRENCY,
        jobs_batch_size=CONCURRENCY,
        jobs_poll_interval_s=0.1,
        jobs_queue_lease_s=2.0,
        jobs_run_lease_s=2.0,
        db_pool_size=3,
        webhook_timeout_s=3.0,
        webhook_retry_schedule_s=[0.0, 0.3, 0.6, 1.2, 2.4, 4.8],
    )
    async with Receiver(hold_until_released) as receiver, jobs_app(s) as (app, client):
        tenant = await create_tenant(app, "Acme", "acme")
        created = await client.post(
            "/api/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["*"]}, headers=tenant.headers
        )
        assert created.status_code == 201, created.text
        owner = Principal(tenant.organization_id, tenant.user_id, Role.OWNER, ROLE_SCOPES[Role.OWNER])
        async with app.state.database.writer() as session:
            for n in range(EVENTS):
                await event_service.emit(session, owner, "customer.updated", {"n": n})
            await session.commit()
        with processes(s, tmp_path) as started:
            doomed = await start(started, "worker", s, tmp_path)
            # The doomed worker's whole first batch is at the receiver, unanswered: sent, not recorded.
            held = {request.webhook_id for request in await receiver.wait_for(CONCURRENCY, timeout=30)}
            await asyncio.sleep(0.5)  # nothing more arrives: the worker has no free slot
            assert len(receiver.requests) == CONCURRENCY
            doomed.kill()
            release.set()
            await asyncio.gather(*(start(started, "worker", s, tmp_path) for _ in range(2)))

            async def all_succeeded() -> list[WebhookDelivery] | None:
                async with app.state.database.reader() as session:
                    rows = list(await session.scalars(select(WebhookDelivery)))
                return rows if len(rows) == EVENTS and all(row.status == "succeeded" for row in rows) else None

            deliveries = await eventually(all_succeeded, timeout=60, interval=0.2)
        async with app.state.database.reader() as session:
            events = set(await session.scalars(select(Event.id)))
            attempts = Counter(await session.scalars(select(WebhookAttempt.delivery_id)))
    seen = Counter(request.webhook_id for request in receiver.requests)
    assert len(events) == EVENTS
    assert set(seen) == events  # nothing lost
    assert processed == events  # each event acted on, once, by the deduplicating receiver
    assert {webhook_id for webhook_id, count in seen.items() if count > 1} == held  # resent: that batch only
    assert max(seen.values()) == 2
    by_event = {delivery.event_id: delivery for delivery in deliveries}
    assert {delivery.attempts for event_id, delivery in by_event.items() if event_id in held} == {2}
    assert {delivery.attempts for event_id, delivery in by_event.items() if event_id not in held} == {1}
    # The killed worker recorded nothing: one attempt row per delivery, by the workers that finished it.
    assert set(attempts.values()) == {1}
