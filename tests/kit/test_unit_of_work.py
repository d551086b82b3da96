"""The request boundary: commit before the response, roll back on errors, and keep idempotency exact."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import make_url, update
from starlette.types import Message, Receive, Scope, Send

from shipyard.app import create_app
from shipyard.kit.problems import ProblemError
from shipyard.kit.unit_of_work import SessionHolder
from shipyard.models import Customer, IdempotencyKey
from shipyard.models.base import utcnow
from shipyard.settings import Settings
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.log_capture import production_logs
from tests.fixtures.problems import assert_problem
from tests.fixtures.servers import PostgresServer
from tests.fixtures.tenants import Tenant, create_tenant
from tests.kit.conftest import PROBE, Probes, count_rows

CUSTOMERS = "/api/v1/customers"
ADA = {"name": "Ada", "email": "ada@example.com"}


def _keyed(tenant: Tenant, key: str) -> dict[str, str]:
    return {**tenant.headers, "Idempotency-Key": key}


def _observing(app: FastAPI, seen: list[int]) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The app, wrapped so that the moment its response starts, another connection counts customers."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen.append(await count_rows(app, Customer))
            await send(message)

        await app(scope, receive, observed)

    return wrapper


@pytest.mark.parametrize("key", [None, "observed"], ids=["plain", "idempotent"])
async def test_write_is_committed_before_the_response_starts(app: FastAPI, tenant: Tenant, key: str | None) -> None:
    seen: list[int] = []
    transport = httpx.ASGITransport(app=_observing(app, seen))
    headers = _keyed(tenant, key) if key else tenant.headers
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.post(CUSTOMERS, json=ADA, headers=headers)
    assert response.status_code == 201, response.text
    assert seen == [1]


@pytest.mark.parametrize("key", [None, "refused"], ids=["plain", "idempotent"])
async def test_client_error_rolls_back_what_the_request_wrote(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, probes: Probes, key: str | None
) -> None:
    headers = _keyed(tenant, key) if key else tenant.headers
    response = await client.post(f"{PROBE}/write-then-refuse", json=ADA, headers=headers)
    assert_problem(response, 400, "probe_refused")
    assert probes.calls["write_then_refuse"] == 1
    assert await count_rows(app, Customer) == 0


async def test_client_error_with_key_is_replayed_without_running_again(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, probes: Probes
) -> None:
    url = f"{PROBE}/write-then-refuse"
    first = await client.post(url, json=ADA, headers=_keyed(tenant, "refused"))
    replay = await client.post(url, json=ADA, headers=_keyed(tenant, "refused"))
    assert first.status_code == replay.status_code == 400
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["code"] == "probe_refused"
    assert probes.calls["write_then_refuse"] == 1
    assert await count_rows(app, Customer) == 0


@pytest.mark.parametrize("key", [None, "crash"], ids=["plain", "idempotent"])
async def test_unhandled_exception_rolls_back_and_answers_500(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, probes: Probes, key: str | None
) -> None:
    del probes  # installs the route
    headers = _keyed(tenant, key) if key else tenant.headers
    response = await client.post(f"{PROBE}/write-then-boom", json=ADA, headers=headers)
    assert_problem(response, 500, "internal_error")
    assert "secret-value-xyz" not in response.text
    assert await count_rows(app, Customer) == 0
    assert await count_rows(app, IdempotencyKey) == 0


@pytest.mark.parametrize(
    "failure",
    [lambda: RuntimeError("transient"), lambda: ProblemError(409, "concurrent_update", "Changed meanwhile.")],
    ids=["500", "409-conflict"],
)
async def test_failed_request_releases_its_key_so_a_retry_runs_again(
    app: FastAPI,
    client: httpx.AsyncClient,
    tenant: Tenant,
    probes: Probes,
    failure: Callable[[], Exception],
) -> None:
    probes.fail_times = 1
    probes.failure = failure
    url = f"{PROBE}/flaky"
    failed = await client.post(url, json=ADA, headers=_keyed(tenant, "flaky"))
    assert failed.status_code in {409, 500}
    assert "idempotent-replayed" not in failed.headers
    retried = await client.post(url, json=ADA, headers=_keyed(tenant, "flaky"))
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers
    assert retried.json()["attempt"] == 2
    replay = await client.post(url, json=ADA, headers=_keyed(tenant, "flaky"))
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == retried.json()
    assert probes.calls["flaky"] == 2
    assert await count_rows(app, Customer) == 1


async def test_failure_after_the_response_keeps_the_acknowledged_write_and_its_key(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, probes: Probes
) -> None:
    url = f"{PROBE}/background-failure"
    first = await client.post(url, json=ADA, headers=_keyed(tenant, "background"))
    assert first.status_code == 201, first.text
    assert probes.calls["boom"] == 1
    retry = await client.post(url, json=ADA, headers=_keyed(tenant, "background"))
    assert retry.headers.get("idempotent-replayed") == "true"
    assert retry.json() == first.json()
    assert await count_rows(app, Customer) == 1


async def test_simultaneous_identical_requests_create_one_row(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    responses = await asyncio.gather(
        *(client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "burst")) for _ in range(10))
    )
    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {201, 409}, [r.text for r in responses]
    created = [r for r in responses if r.status_code == 201]
    originals = [r for r in created if "idempotent-replayed" not in r.headers]
    assert len(originals) == 1
    assert {r.json()["id"] for r in created} == {originals[0].json()["id"]}
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409, "idempotency_key_in_flight")
    assert await count_rows(app, Customer) == 1
    settled = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "burst"))
    assert settled.headers["idempotent-replayed"] == "true"
    assert settled.json()["id"] == originals[0].json()["id"]


async def test_abandoned_claim_is_taken_over_and_the_late_holder_cannot_commit(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, probes: Probes
) -> None:
    url = f"{PROBE}/slow"
    stuck = asyncio.create_task(client.post(url, json=ADA, headers=_keyed(tenant, "zombie")))
    try:
        await asyncio.wait_for(probes.entered.wait(), timeout=10)
        # The holder looks crashed: its lock ran out without it finishing.
        async with app.state.database.writer() as session:
            await session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.key == "zombie")
                .values(locked_until=utcnow() - timedelta(seconds=1))
            )
            await session.commit()
        probes.entered.clear()
        retry = asyncio.create_task(client.post(url, json=ADA, headers=_keyed(tenant, "zombie")))
        await asyncio.wait_for(probes.entered.wait(), timeout=10)
        assert probes.calls["slow"] == 2
    finally:
        probes.proceed.set()
    taken_over = await asyncio.wait_for(retry, timeout=10)
    late = await asyncio.wait_for(stuck, timeout=10)
    assert taken_over.status_code == 201, taken_over.text
    assert "idempotent-replayed" not in taken_over.headers
    # The original holder lost its lease: its write is rolled back instead of running the operation twice.
    assert_problem(late, 409, "idempotency_key_in_flight")
    assert await count_rows(app, Customer) == 1
    replay = await client.post(url, json=ADA, headers=_keyed(tenant, "zombie"))
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == taken_over.json()


async def _pretend_unfinished(app: FastAPI, key: str, locked_for: timedelta) -> None:
    # What a process killed mid-request leaves behind: a claimed, uncompleted row.
    async with app.state.database.writer() as session:
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == key)
            .values(completed=False, response_status=None, response_body=None, locked_until=utcnow() + locked_for)
        )
        await session.commit()


async def test_crashed_claim_blocks_retries_until_its_lock_expires_then_is_taken_over(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "crashed"))
    assert first.status_code == 201, first.text
    await _pretend_unfinished(app, "crashed", timedelta(minutes=1))
    blocked = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "crashed"))
    assert_problem(blocked, 409, "idempotency_key_in_flight")
    await _pretend_unfinished(app, "crashed", -timedelta(seconds=1))
    retry = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "crashed"))
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert await count_rows(app, Customer) == 2
    replay = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "crashed"))
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == retry.json()


def _kill_app_connections(server: PostgresServer, settings: Settings) -> int:
    """Terminate every backend the app holds on this test's database, as a crash would; how many."""
    database = make_url(settings.database_url).database
    query = f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{database}'"  # noqa: S608 - our own test database's name
    killed = server.psql(f"{query} AND usename = 'shipyard_app'")
    return int(killed.strip())


@pytest.fixture
async def rarely_touching_client(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Tenant]]:
    """A client whose token's last use is recorded once an hour, not on every request.

    Recording it is best effort and runs before the endpoint: on every request it would be the first
    statement to meet a dead connection, and its failure would renew the pool before the read could.
    """
    application = create_app(settings.model_copy(update={"token_last_used_resolution_s": 3600}))
    async with running_lifespan(application):
        tenant = await create_tenant(application, "Acme", "acme")
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http, tenant


@pytest.mark.postgres_only
async def test_read_after_the_pooled_connections_died_is_answered(
    rarely_touching_client: tuple[httpx.AsyncClient, Tenant], postgres_server: PostgresServer, settings: Settings
) -> None:
    client, tenant = rarely_touching_client
    created = await client.post(CUSTOMERS, json=ADA, headers=tenant.headers)
    assert (await client.get(CUSTOMERS, headers=tenant.headers)).status_code == 200
    assert _kill_app_connections(postgres_server, settings) >= 1

    with production_logs(level="WARNING") as logs:
        response = await client.get(f"{CUSTOMERS}/{created.json()['id']}", headers=tenant.headers)

    assert response.status_code == 200, response.text
    assert response.json()["email"] == ADA["email"]
    assert len(logs.events("read_retried_on_fresh_connection")) == 1


@pytest.mark.postgres_only
async def test_read_whose_connection_dies_runs_once_more_with_its_body(
    client: httpx.AsyncClient, tenant: Tenant, probes: Probes
) -> None:
    probes.fail_times = 1
    response = await client.request("GET", f"{PROBE}/lose-connection", content=b"same body", headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"attempt": 2}
    assert probes.bodies == [b"same body", b"same body"]


@pytest.mark.postgres_only
async def test_read_is_retried_only_once(client: httpx.AsyncClient, tenant: Tenant, probes: Probes) -> None:
    probes.fail_times = 5
    response = await client.get(f"{PROBE}/lose-connection", headers=tenant.headers)
    assert_problem(response, 500, "internal_error")
    assert probes.calls["lose_connection"] == 2


@pytest.mark.postgres_only
async def test_write_whose_connection_dies_is_not_run_again(
    client: httpx.AsyncClient, tenant: Tenant, probes: Probes
) -> None:
    probes.fail_times = 1
    failed = await client.post(f"{PROBE}/lose-connection", headers=tenant.headers)
    assert_problem(failed, 500, "internal_error")
    assert probes.calls["lose_connection"] == 1
    # The pool threw the dead connection away: the client's own retry is answered.
    retried = await client.post(f"{PROBE}/lose-connection", headers=tenant.headers)
    assert retried.json() == {"attempt": 2}


async def test_a_safe_request_can_ask_for_the_writer_session_before_it_opened_one(app: FastAPI) -> None:
    database = app.state.database
    holder = SessionHolder(database.request_reader, writer=database.writer)
    session = holder.get_for_writing()
    assert session.bind is database.writer.kw["bind"]
    assert holder.get() is session
    assert holder.get_for_writing() is session
    await holder.close()


async def test_a_session_already_opened_as_a_reader_is_not_silently_kept_for_writing(app: FastAPI) -> None:
    database = app.state.database
    holder = SessionHolder(database.request_reader, writer=database.writer)
    holder.get()
    with pytest.raises(RuntimeError, match="opened as a reader"):
        holder.get_for_writing()
    await holder.close()
