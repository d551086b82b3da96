"""Invoice numbers under contention: gapless when creations fail after numbering, and the lock held briefly.

A creation takes its number in one statement that also inserts the invoice, its audit event and its
outbox event and stores the idempotent response, after everything else is prepared and the response
built (docs/decisions/0056, 0065). The organisation's row lock, which serialises its creators, is
then held only for that statement and the commit. A failure while numbering rolls the count back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from shipyard.kit.db import create_database
from shipyard.settings import Settings
from tests.fixtures.billing import create_customer, create_invoice, invoice_body
from tests.fixtures.tenants import Tenant

# Storing the response of a request whose key starts with `fail-` fails: after the number was taken.
_FAILING_STORE = {
    "postgresql": (
        (
            "CREATE FUNCTION refuse_stored_response() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'storing the response failed'; END $$"
        ),
        (
            "CREATE TRIGGER refuse_stored_response BEFORE UPDATE ON idempotency_keys FOR EACH ROW "
            "WHEN (NEW.completed AND NEW.key LIKE 'fail-%') EXECUTE FUNCTION refuse_stored_response()"
        ),
    ),
    "sqlite": (
        (
            "CREATE TRIGGER refuse_stored_response BEFORE UPDATE ON idempotency_keys FOR EACH ROW "
            "WHEN NEW.completed AND NEW.key LIKE 'fail-%' BEGIN SELECT RAISE(ABORT, 'storing the response failed'); END"
        ),
    ),
}


@pytest.fixture
async def failing_store(settings: Settings, database_urls: tuple[str, str]) -> AsyncIterator[None]:
    """Install the trigger as the tables' owner (the app role may not); the database is this test's own."""
    owner = create_database(settings, url=database_urls[1])
    try:
        async with owner.engine.begin() as connection:
            for statement in _FAILING_STORE[connection.dialect.name]:
                await connection.exec_driver_sql(statement)
        yield
    finally:
        await owner.dispose()


async def _numbers(client: httpx.AsyncClient, tenant: Tenant) -> list[int]:
    page = (await client.get("/api/v1/invoices", params={"limit": 100}, headers=tenant.headers)).json()
    return sorted(invoice["number"] for invoice in page["data"])


async def _create(client: httpx.AsyncClient, tenant: Tenant, customer: dict[str, Any], key: str) -> httpx.Response:
    return await client.post(
        f"/api/v1/customers/{customer['id']}/invoices",
        json=invoice_body(),
        headers={**tenant.headers, "Idempotency-Key": key},
    )


@pytest.mark.usefixtures("failing_store")
async def test_a_creation_that_fails_after_numbering_leaves_no_gap(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await create_customer(client, tenant)
    assert (await create_invoice(client, tenant, customer["id"]))["number"] == 1

    failed = await _create(client, tenant, customer, "fail-alone")

    assert failed.status_code == 500
    assert await _numbers(client, tenant) == [1]
    assert (await create_invoice(client, tenant, customer["id"]))["number"] == 2


@pytest.mark.usefixtures("failing_store")
async def test_concurrent_creations_with_failures_get_exactly_one_to_n(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    customers = [await create_customer(client, tenant) for _ in range(3)]
    keys = [f"fail-{i}" if i % 3 == 1 else f"ok-{i}" for i in range(24)]

    responses = await asyncio.gather(*(_create(client, tenant, customers[i % 3], key) for i, key in enumerate(keys)))

    statuses = {key: response.status_code for key, response in zip(keys, responses, strict=True)}
    assert statuses == {key: 500 if key.startswith("fail-") else 201 for key in keys}
    created = sorted(r.json()["number"] for r in responses if r.status_code == 201)
    assert created == list(range(1, 17))
    assert await _numbers(client, tenant) == list(range(1, 17))
    assert (await create_invoice(client, tenant, customers[0]["id"]))["number"] == 17


@pytest.mark.postgres_only
async def test_the_lock_covers_only_the_numbering_statement_that_stores_the_response_and_the_commit(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    customer = await create_customer(client, tenant)
    engine = app.state.database.engine.sync_engine
    seen: list[str] = []

    def statement(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        seen.append(" ".join(sql.split()))

    def commit(_conn: object) -> None:
        seen.append("COMMIT")

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)
    try:
        response = await _create(client, tenant, customer, "ok-watched")
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", commit)

    assert response.status_code == 201, response.text
    numbering = next(i for i, sql in enumerate(seen) if "UPDATE organizations" in sql)
    for table in ("invoices", "audit_events", "events"):  # written by the numbering statement itself
        assert f"INSERT INTO {table} " in seen[numbering]
    assert "UPDATE idempotency_keys SET" in seen[numbering]  # the stored response too (decisions/0065)
    assert seen[numbering + 1 :] == ["COMMIT"]


@pytest.mark.parametrize("key", [None, "ok-replayed"])
async def test_the_response_carries_the_number_taken_last_and_a_replay_repeats_it(
    client: httpx.AsyncClient, tenant: Tenant, key: str | None
) -> None:
    customer = await create_customer(client, tenant)
    headers = {**tenant.headers, **({"Idempotency-Key": key} if key else {})}
    path = f"/api/v1/customers/{customer['id']}/invoices"

    first, second = [await client.post(path, json=invoice_body(), headers=headers) for _ in range(2)]

    assert first.status_code == second.status_code == 201, first.text
    for response in (first, second):
        # The placeholder (18 digits) was replaced by the number: the length must follow it.
        assert response.headers["content-length"] == str(len(response.content))
    assert first.json()["number"] == 1
    if key is None:
        assert second.json()["number"] == 2
    else:
        assert second.headers["idempotent-replayed"] == "true"
        assert second.content == first.content
    assert await _numbers(client, tenant) == ([1] if key else [1, 2])
