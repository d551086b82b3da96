"""Throughput: 10,000 events, 4 worker processes on PostgreSQL, each event delivered exactly once.

The workers use the in-process transport, so every one of them claims from the database with
`FOR UPDATE SKIP LOCKED` concurrently: the test that no row is ever claimed twice.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shipyard.events import service as event_service
from shipyard.identity.principal import Principal
from shipyard.identity.scopes import ROLE_SCOPES
from shipyard.models import Event, Role, WebhookAttempt, WebhookDelivery
from shipyard.settings import Settings
from tests.fixtures.jobs import eventually, fast, jobs_app
from tests.fixtures.receiver import Receiver
from tests.fixtures.tenants import create_tenant
from tests.fixtures.workers import processes, start

EVENTS = 10_000
WORKERS = 4


@pytest.mark.slow
@pytest.mark.postgres_only
@pytest.mark.timeout(900)  # on a shared 2-core machine this measured 45-100 deliveries/s
async def test_ten_thousand_events_reach_the_receiver_exactly_once_with_four_workers(
    settings: Settings, tmp_path: Path
) -> None:
    # Production's timeout and retry schedule: under this load a 2 s timeout would be a test of the machine.
    s = fast(
        settings,
        jobs_embedded=False,
        jobs_poll_interval_s=0.1,
        jobs_concurrency=32,
        db_pool_size=5,
        webhook_timeout_s=15.0,
        webhook_retry_schedule_s=Settings().webhook_retry_schedule_s,
    )
    async with Receiver() as receiver, jobs_app(s) as (app, client):
        tenant = await create_tenant(app, "Acme", "acme")
        created = await client.post(
            "/api/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["*"]}, headers=tenant.headers
        )
        assert created.status_code == 201
        owner = Principal(tenant.organization_id, tenant.user_id, Role.OWNER, ROLE_SCOPES[Role.OWNER])
        for first in range(0, EVENTS, 1000):
            async with app.state.database.writer() as session:
                for n in range(first, first + 1000):
                    await event_service.emit(session, owner, "customer.updated", {"n": n})
                await session.commit()
        with processes(s, tmp_path) as started:
            for _ in range(WORKERS):
                await start(started, "worker", s, tmp_path)
            began = time.monotonic()

            async def all_done() -> int | None:
                async with app.state.database.reader() as session:
                    done = await session.scalar(select(func.count()).where(WebhookDelivery.status == "succeeded"))
                return done if done == EVENTS else None

            await eventually(all_done, timeout=780, interval=0.5)
            elapsed = time.monotonic() - began
        async with app.state.database.reader() as session:
            event_ids = set(await session.scalars(select(Event.id)))
            attempts = await session.scalar(select(func.count()).select_from(WebhookAttempt))
            claims = Counter(await session.scalars(select(WebhookDelivery.attempts)))
            per_event = Counter(await session.scalars(select(WebhookDelivery.event_id)))
    seen = Counter(request.webhook_id for request in receiver.requests)
    assert len(event_ids) == EVENTS
    assert set(seen) == event_ids  # every event arrived...
    assert set(seen.values()) == {1}  # ...exactly once
    assert set(per_event.values()) == {1}  # one delivery per event
    assert claims == {1: EVENTS}  # no delivery claimed twice
    assert attempts == EVENTS
    rate = EVENTS / elapsed
    print(f"\n{EVENTS} deliveries by {WORKERS} workers in {elapsed:.1f} s: {rate:.0f} deliveries/s")  # noqa: T201
    assert {line for process in started for line in process.log.splitlines() if "Traceback" in line} == set()
