"""Fixtures for the API-contract tests: apps with other settings, and test-only probe routes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import BackgroundTasks, FastAPI, Request
from sqlalchemy import func, select, text

from shipyard.app import create_app
from shipyard.customers import service as customer_service
from shipyard.customers.schemas import CustomerCreate
from shipyard.identity.auth import CustomersWrite
from shipyard.kit.deps import DBSession
from shipyard.kit.problems import ProblemError
from shipyard.settings import Settings
from tests.fixtures.lifespan import running_lifespan

PROBE = "/api/v1/_probe"

ClientFactory = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
async def make_client(settings: Settings) -> AsyncIterator[ClientFactory]:
    """Build another app on this test's database with some settings overridden, and a client for it."""
    async with AsyncExitStack() as stack:

        async def factory(**overrides: Any) -> tuple[FastAPI, httpx.AsyncClient]:
            application = create_app(settings.model_copy(update=overrides))
            await stack.enter_async_context(running_lifespan(application))
            transport = httpx.ASGITransport(app=application)
            http = await stack.enter_async_context(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
            return application, http

        yield factory


@dataclass
class Probes:
    """Test-only routes under `PROBE`, installed on the shared `app`."""

    calls: dict[str, int] = field(default_factory=dict)
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    proceed: asyncio.Event = field(default_factory=asyncio.Event)
    fail_times: int = 0
    failure: Callable[[], Exception] = lambda: RuntimeError("transient")
    bodies: list[bytes] = field(default_factory=list)

    def count(self, name: str) -> int:
        self.calls[name] = self.calls.get(name, 0) + 1
        return self.calls[name]


@pytest.fixture
def probes(app: FastAPI) -> Probes:
    """Routes that crash, crash after writing, fail a given number of times, or wait to be released."""
    state = Probes()

    async def boom() -> None:
        state.count("boom")
        raise RuntimeError("secret-value-xyz")

    async def write_then_boom(body: CustomerCreate, principal: CustomersWrite, session: DBSession) -> None:
        await customer_service.create(session, principal, body)
        raise RuntimeError("secret-value-xyz")

    async def write_then_refuse(body: CustomerCreate, principal: CustomersWrite, session: DBSession) -> None:
        state.count("write_then_refuse")
        await customer_service.create(session, principal, body)
        raise ProblemError(400, "probe_refused", "Refused after writing.")

    async def background_failure(
        body: CustomerCreate, principal: CustomersWrite, session: DBSession, tasks: BackgroundTasks
    ) -> dict[str, Any]:
        # The task runs after the response was sent, and fails: the acknowledged write must stand.
        customer = await customer_service.create(session, principal, body)
        tasks.add_task(boom)
        return {"id": customer.id}

    async def flaky(body: CustomerCreate, principal: CustomersWrite, session: DBSession) -> dict[str, Any]:
        # Writes first, then raises `failure` (so the write is rolled back) for the first `fail_times` calls.
        customer = await customer_service.create(session, principal, body)
        if state.count("flaky") <= state.fail_times:
            raise state.failure()
        return {"id": customer.id, "attempt": state.calls["flaky"]}

    async def slow(body: CustomerCreate, principal: CustomersWrite, session: DBSession) -> dict[str, Any]:
        # Waits before touching the database: on SQLite a write transaction would hold the one write lock.
        state.count("slow")
        state.entered.set()
        await state.proceed.wait()
        customer = await customer_service.create(session, principal, body)
        return {"id": customer.id}

    async def lose_connection(session: DBSession, request: Request) -> dict[str, Any]:
        # PostgreSQL only: for the first `fail_times` calls, ends its own database backend, which is
        # what a backend crash or a PgBouncer restart looks like to the app (a real disconnect).
        attempt = state.count("lose_connection")
        state.bodies.append(await request.body())
        if attempt <= state.fail_times:
            await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
        await session.execute(select(1))
        return {"attempt": attempt}

    app.add_api_route(f"{PROBE}/boom", boom, methods=["GET", "POST"])
    app.add_api_route(f"{PROBE}/lose-connection", lose_connection, methods=["GET", "POST"])
    app.add_api_route(f"{PROBE}/write-then-boom", write_then_boom, methods=["POST"])
    app.add_api_route(f"{PROBE}/write-then-refuse", write_then_refuse, methods=["POST"])
    app.add_api_route(f"{PROBE}/background-failure", background_failure, methods=["POST"], status_code=201)
    app.add_api_route(f"{PROBE}/flaky", flaky, methods=["POST"], status_code=201)
    app.add_api_route(f"{PROBE}/slow", slow, methods=["POST"], status_code=201)
    return state


async def count_rows(app: FastAPI, model: type[Any]) -> int:
    """How many rows `model`'s table holds, read on a connection of its own."""
    async with app.state.database.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)
