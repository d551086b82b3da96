"""Real faults: kill -9 a worker mid-delivery, and crash or restart Redis with work pending.

Workers are `python -m shipyard.worker` subprocesses on the Redis Streams broker (the Debian
redis-server); the app in the test process only produces. Nothing may be lost; a webhook
interrupted by a crash may arrive twice, and the receiver dedupes on its `webhook-id`.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from shipyard.models import Event, WebhookDelivery
from shipyard.settings import Settings
from shipyard.worker import relay
from tests.fixtures.jobs import eventually, fast, jobs_app, runtime_of
from tests.fixtures.receiver import Received, Receiver, Reply
from tests.fixtures.servers import RedisServer
from tests.fixtures.tenants import Tenant, create_tenant
from tests.fixtures.workers import processes, start

pytestmark = pytest.mark.slow


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]) as server:
        yield server


def _redis_settings(settings: Settings, redis: RedisServer, **overrides: object) -> Settings:
    return fast(
        settings,
        redis_url=redis.url(),
        jobs_embedded=False,  # the test process only produces; the subprocesses work
        jobs_reclaim_idle_s=2.0,
        jobs_poll_interval_s=0.2,
        jobs_queue_lease_s=3.0,
        jobs_run_lease_s=3.0,
        db_pool_size=3,
        # Room for a loaded machine: a 2 s timeout and four quick attempts could disable the endpoint.
        webhook_timeout_s=3.0,
        webhook_retry_schedule_s=[0.0, 0.3, 0.6, 1.2, 2.4, 4.8],
        **overrides,
    )


async def _setup(client: object, app: object, url: str) -> tuple[Tenant, str]:
    tenant = await create_tenant(app, "Acme", "acme")
    response = await client.post(  # type: ignore[attr-defined]
        "/api/v1/webhook-endpoints", json={"url": url, "event_types": ["*"]}, headers=tenant.headers
    )
    return tenant, response.json()["id"]


async def _customers(client: object, tenant: Tenant, names: list[str]) -> None:
    for name in names:
        response = await client.post(  # type: ignore[attr-defined]
            "/api/v1/customers", json={"name": name, "email": f"{name}@example.com"}, headers=tenant.headers
        )
        assert response.status_code == 201, response.text


async def _all_succeeded(app: object, count: int) -> list[WebhookDelivery]:
    async def check() -> list[WebhookDelivery] | None:
        async with app.state.database.reader() as session:  # type: ignore[attr-defined]
            rows = list(await session.scalars(select(WebhookDelivery)))
        done = [row for row in rows if row.status == "succeeded"]
        return done if len(done) == count else None

    return await eventually(check, timeout=60, interval=0.2)


async def _event_ids(app: object) -> set[str]:
    async with app.state.database.reader() as session:  # type: ignore[attr-defined]
        return set(await session.scalars(select(Event.id)))


async def test_a_worker_killed_mid_delivery_is_replaced_and_nothing_is_lost(
    settings: Settings, redis: RedisServer, tmp_path: Path
) -> None:
    release = asyncio.Event()

    async def hold_the_first(request: Received) -> Reply:
        if request is receiver.requests[0]:
            await asyncio.wait_for(release.wait(), 60)
        return Reply()

    s = _redis_settings(settings, redis)
    async with Receiver(hold_the_first) as receiver, jobs_app(s) as (app, client):
        tenant, _ = await _setup(client, app, receiver.url)
        with processes(s, tmp_path) as started:
            await start(started, "scheduler", s, tmp_path)
            doomed = await start(started, "worker", s, tmp_path)
            await _customers(client, tenant, ["a"])
            [held] = await receiver.wait_for(1, timeout=30)
            await _customers(client, tenant, ["b", "c", "d", "e"])
            await _all_succeeded(app, 4)  # the others get through (and are recorded) while the first hangs
            doomed.kill()  # mid-delivery: its lease and its unacknowledged message are left behind
            release.set()
            await start(started, "worker", s, tmp_path)
            deliveries = await _all_succeeded(app, 5)
        events = await _event_ids(app)
    seen = Counter(request.webhook_id for request in receiver.requests)
    assert set(seen) == events  # nothing lost
    assert max(seen.values()) <= 2  # at most a duplicate...
    assert seen[held.webhook_id] == 2  # ...and only for the interrupted one
    interrupted = next(d for d in deliveries if d.event_id == held.webhook_id)
    assert interrupted.attempts == 2
    assert all(d.attempts == 1 for d in deliveries if d is not interrupted)


async def test_events_committed_while_redis_is_down_are_delivered_when_it_returns(
    settings: Settings, redis: RedisServer, tmp_path: Path
) -> None:
    s = _redis_settings(settings, redis)
    async with Receiver() as receiver, jobs_app(s) as (app, client):
        tenant, _ = await _setup(client, app, receiver.url)
        with processes(s, tmp_path) as started:
            await start(started, "scheduler", s, tmp_path)
            await start(started, "worker", s, tmp_path)
            await _customers(client, tenant, ["a", "b"])
            await receiver.wait_for(2, timeout=30)
            redis.crash()
            await _customers(client, tenant, ["c", "d", "e"])  # the API keeps working; the outbox holds them
            redis.start()
            await _customers(client, tenant, ["f"])
            await _all_succeeded(app, 6)
        events = await _event_ids(app)
    seen = Counter(request.webhook_id for request in receiver.requests)
    assert set(seen) == events
    assert set(seen.values()) == {1}


@pytest.mark.parametrize("persistent", [True, False], ids=["appendonly", "no-persistence"])
async def test_queued_deliveries_survive_a_redis_crash(settings: Settings, tmp_path: Path, *, persistent: bool) -> None:
    args = ["--appendonly", "yes", "--appendfsync", "always"] if persistent else []
    with RedisServer(extra_args=args) as redis:
        s = _redis_settings(settings, redis)
        async with Receiver() as receiver, jobs_app(s) as (app, client):
            tenant, _ = await _setup(client, app, receiver.url)
            await _customers(client, tenant, [f"c{n}" for n in range(8)])
            # No worker yet: relay here, so that eight deliveries sit leased in the database and
            # queued in the Redis stream. Then Redis dies.
            assert await relay.relay(runtime_of(app)) >= 8
            assert await redis_stream_length(redis, s) >= 8
            redis.restart(crash=True)
            assert await redis_stream_length(redis, s) == (8 if persistent else 0)
            with processes(s, tmp_path) as started:
                await start(started, "scheduler", s, tmp_path)
                await start(started, "worker", s, tmp_path)
                await _all_succeeded(app, 8)
            events = await _event_ids(app)
    seen = Counter(request.webhook_id for request in receiver.requests)
    assert set(seen) == events
    assert set(seen.values()) == {1}


async def redis_stream_length(_redis: RedisServer, settings: Settings) -> int:
    """How many deliver messages the job stream holds."""
    from redis.asyncio import Redis

    from shipyard.worker.broker import jobs_redis_url

    async with Redis.from_url(jobs_redis_url(settings)) as client:
        messages = await client.xrange(settings.jobs_queue_name)
    return sum(1 for _id, fields in messages if b"webhooks.deliver" in fields[b"data"])
