"""The embedded default (`make run`): `create_app` alone, its lifespan running, delivers webhooks.

No REDIS_URL and no `shipyard worker`: the lifespan runs the in-process broker, the relay and the
scheduler. Nothing here starts a job runtime or adds a route by hand (unlike tests/fixtures/jobs.py),
so these tests fail if the app stops wiring them. Shutting down must leave no task behind and warn
about nothing, even with a delivery in the middle of its HTTP request.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from taskiq import InMemoryBroker

from shipyard.app import create_app
from shipyard.settings import Settings
from shipyard.worker.runtime import Runtime
from tests.fixtures.jobs import eventually
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.log_capture import production_logs
from tests.fixtures.receiver import Received, Receiver, Reply
from tests.fixtures.tenants import Tenant, create_tenant

# What `make run` has (the suite's base settings switch embedded jobs off), plus loopback receivers.
EMBEDDED = {"jobs_embedded": None, "redis_url": None, "webhook_allowed_networks": ["127.0.0.0/8"]}
DELIVERED_WITHIN_S = 5.0


@pytest.fixture
def embedded_settings(settings: Settings) -> Settings:
    """The test's database with jobs left to their default: embedded, as there is no REDIS_URL."""
    chosen = settings.model_copy(update=EMBEDDED)
    assert chosen.jobs_run_embedded
    return chosen


class Shutdown:
    """What the lifespan left behind when it ended."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.warnings: list[warnings.WarningMessage] = []
        # Every line logged at WARNING or above, ours and the libraries', as production renders them.
        self.log_lines: list[dict[str, Any]] = []


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, Shutdown]]:
    """The app with its own lifespan, as uvicorn runs it; after the block, what shutting down left."""
    before = asyncio.all_tasks()
    app = create_app(settings)
    shutdown = Shutdown()
    lifespan = running_lifespan(app)
    await lifespan.__aenter__()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client, shutdown
    finally:
        with production_logs(level="WARNING") as logs, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            await lifespan.__aexit__(None, None, None)
            # Let callbacks scheduled by the shutdown run, then collect what was dropped unclosed.
            await asyncio.sleep(0.1)
            gc.collect()
        shutdown.warnings = list(caught)
        shutdown.log_lines = logs.lines()
        left = asyncio.all_tasks() - before - {asyncio.current_task()}  # type: ignore[operator]  # set while awaiting
        # The test's receiver may still hold a connection open (the hanging one does): its handlers are not the app's.
        shutdown.tasks = {task for task in left if not task.get_coro().__qualname__.startswith("Receiver.")}  # type: ignore[union-attr]  # a coroutine


def runtime_of(app: FastAPI) -> Runtime:
    """The job runtime the lifespan started."""
    runtime = getattr(app.state, "jobs", None)
    assert isinstance(runtime, Runtime), "the lifespan did not start the job runtime"
    return runtime


async def _endpoint(client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/webhook-endpoints",
        json={"url": receiver.url, "event_types": ["customer.created"]},
        headers=tenant.headers,
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def _customer(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/customers",
        json={"name": "Ada", "email": "ada@example.com"},
        headers={**tenant.headers, "X-Request-ID": "req-embedded-1"},
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def assert_clean(shutdown: Shutdown) -> None:
    """No task outlived the lifespan, nothing warned, nothing logged a warning or an error."""
    assert shutdown.tasks == set()
    assert [f"{w.category.__name__}: {w.message}" for w in shutdown.warnings] == []
    assert shutdown.log_lines == []


async def test_the_app_alone_delivers_a_verified_webhook_and_shuts_down_cleanly(
    embedded_settings: Settings,
) -> None:
    async with Receiver() as receiver:
        async with serving(embedded_settings) as (app, client, shutdown):
            runtime = runtime_of(app)
            assert isinstance(runtime.broker, InMemoryBroker)
            assert runtime.scheduler is not None, "the embedded default runs the scheduler too"
            tenant = await create_tenant(app, "Acme", "acme")
            endpoint = await _endpoint(client, tenant, receiver)
            customer = await _customer(client, tenant)

            [request] = await receiver.wait_for(1, timeout=DELIVERED_WITHIN_S)
            payload = request.verify(endpoint["secret"])
            assert payload["type"] == "customer.created"
            assert payload["data"]["id"] == customer["id"]
            assert request.webhook_id == payload["id"]

            async def logged() -> list[dict[str, Any]]:
                listed = await client.get(
                    f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=tenant.headers
                )
                return [d for d in listed.json()["data"] if d["status"] == "succeeded"]

            succeeded = await eventually(logged, timeout=DELIVERED_WITHIN_S)
            assert [(d["event_id"], d["attempts"], d["request_id"]) for d in succeeded] == [
                (payload["id"], 1, "req-embedded-1")
            ]
        assert len(receiver.requests) == 1
    assert runtime.http.is_closed
    assert_clean(shutdown)


@dataclass
class CutOff:
    """A shutdown during a delivery, and the delivery as the next start finds it."""

    shutdown: Shutdown
    delivery: dict[str, Any]


async def _shut_down_mid_delivery(settings: Settings) -> CutOff:
    """A receiver that never answers: shutdown waits its grace period, then cuts the delivery off."""
    arrived = asyncio.Event()
    hold = asyncio.Event()

    async def hang(_request: Received) -> Reply:
        arrived.set()
        await hold.wait()
        return Reply()

    async with Receiver(hang) as receiver:
        try:
            async with serving(settings) as (app, client, shutdown):
                tenant = await create_tenant(app, "Acme", "acme")
                endpoint = await _endpoint(client, tenant, receiver)
                await _customer(client, tenant)
                await asyncio.wait_for(arrived.wait(), DELIVERED_WITHIN_S)
        finally:
            hold.set()
    # Started again without jobs, to read the delivery log as it was left.
    async with serving(settings.model_copy(update={"jobs_embedded": False})) as (app, client, _):
        listed = await client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=tenant.headers)
    [delivery] = listed.json()["data"]
    return CutOff(shutdown, delivery)


async def test_shutting_down_mid_delivery_leaves_no_task_and_loses_nothing(embedded_settings: Settings) -> None:
    cut_off = await _shut_down_mid_delivery(embedded_settings)
    assert cut_off.shutdown.tasks == set()
    assert [f"{w.category.__name__}: {w.message}" for w in cut_off.shutdown.warnings] == []
    # Still pending: its lease runs out and the next worker sends it again (same webhook-id).
    assert cut_off.delivery["status"] == "pending"
    assert cut_off.delivery["last_status_code"] is None


async def test_shutting_down_mid_delivery_logs_no_error(embedded_settings: Settings) -> None:
    cut_off = await _shut_down_mid_delivery(embedded_settings)
    assert cut_off.shutdown.log_lines == []
