"""Idempotency-Key on POST, PATCH and DELETE (draft-ietf-httpapi-idempotency-key-header)."""

from __future__ import annotations

import asyncio
import math
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from shipyard.models import Customer, IdempotencyKey
from tests.fixtures.problems import assert_problem
from tests.fixtures.tenants import Tenant, issue_token
from tests.kit.conftest import PROBE, Probes, count_rows

CUSTOMERS = "/api/v1/customers"
ADA = {"name": "Ada", "email": "ada@example.com"}
INVOICE = {"currency": "EUR", "line_items": [{"description": "Hours", "quantity": 2, "unit_amount": 500}]}


def _keyed(tenant: Tenant, key: str, **extra: str) -> dict[str, str]:
    return {**tenant.headers, "Idempotency-Key": key, **extra}


async def _listed(client: httpx.AsyncClient, tenant: Tenant) -> list[str]:
    response = await client.get(CUSTOMERS, headers=tenant.headers)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["data"]]


async def test_same_key_and_payload_replays_the_stored_response(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "create-ada"))
    second = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "create-ada"))
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    for name in ("location", "etag", "content-type"):
        assert second.headers[name] == first.headers[name]
    assert await _listed(client, tenant) == [first.json()["id"]]
    assert await count_rows(app, Customer) == 1


async def test_replay_carries_the_new_request_id(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "rid", **{"X-Request-ID": "original"}))
    replay = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "rid", **{"X-Request-ID": "retry"}))
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers.get_list("x-request-id") == ["retry"]


async def test_reused_idempotency_key_with_different_body_is_422(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    first = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "reused"))
    assert first.status_code == 201, first.text
    other = await client.post(
        CUSTOMERS, json={"name": "Bob", "email": "bob@example.com"}, headers=_keyed(tenant, "reused")
    )
    assert_problem(other, 422, "idempotency_key_reused")
    assert await count_rows(app, Customer) == 1


async def test_retry_while_the_first_request_is_in_flight_is_409(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, probes: Probes
) -> None:
    url = f"{PROBE}/slow"
    first = asyncio.create_task(client.post(url, json=ADA, headers=_keyed(tenant, "slow-1")))
    try:
        await asyncio.wait_for(probes.entered.wait(), timeout=10)
        retry = await client.post(url, json=ADA, headers=_keyed(tenant, "slow-1"))
        assert_problem(retry, 409, "idempotency_key_in_flight")
        # The truth: the key is free at the latest when the holder's lease lapses (it renews it while alive).
        lease_s = app.state.idempotency.lock.total_seconds()
        assert 1 <= int(retry.headers["retry-after"]) <= math.ceil(lease_s)
        assert probes.calls["slow"] == 1
    finally:
        probes.proceed.set()
        original = await asyncio.wait_for(first, timeout=10)
    assert original.status_code == 201, original.text
    after = await client.post(url, json=ADA, headers=_keyed(tenant, "slow-1"))
    assert after.headers["idempotent-replayed"] == "true"
    assert after.json() == original.json()
    assert probes.calls["slow"] == 1
    assert await count_rows(app, Customer) == 1


@pytest.mark.parametrize(
    "key",
    ["", "   ", "k" * 256, "bad\x01key", '""'],
    ids=["empty", "blank", "too-long", "control-char", "empty-quoted"],
)
async def test_malformed_key_is_400_and_nothing_runs(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, key: str
) -> None:
    response = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, key))
    assert_problem(response, 400, "idempotency_key_invalid")
    assert await count_rows(app, Customer) == 0
    assert await count_rows(app, IdempotencyKey) == 0


async def test_key_of_255_characters_is_accepted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    key = "k" * 255
    first = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, key))
    assert first.status_code == 201, first.text
    replay = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, key))
    assert replay.headers["idempotent-replayed"] == "true"


async def test_quoted_key_is_the_same_key(client: httpx.AsyncClient, tenant: Tenant) -> None:
    # The draft defines the header as a structured-field string; a bare token is accepted too.
    first = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, '"quoted-1"'))
    replay = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "quoted-1"))
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]


async def test_key_is_scoped_to_the_principal(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    mine = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "shared"))
    theirs = await client.post(CUSTOMERS, json=ADA, headers=_keyed(other_tenant, "shared"))
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert await _listed(client, other_tenant) == [theirs.json()["id"]]
    assert await _listed(client, tenant) == [mine.json()["id"]]
    secret, _ = await issue_token(app, tenant, ["customers:read", "customers:write"])
    colleague = await client.post(
        CUSTOMERS, json=ADA, headers={"Authorization": f"Bearer {secret}", "Idempotency-Key": "shared"}
    )
    assert colleague.status_code == 201, colleague.text
    assert "idempotent-replayed" not in colleague.headers
    assert await count_rows(app, Customer) == 3


async def test_key_is_scoped_to_the_operation(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "op"))
    customer_url = f"{CUSTOMERS}/{customer.json()['id']}"
    invoice = await client.post(f"{customer_url}/invoices", json=INVOICE, headers=_keyed(tenant, "op"))
    assert invoice.status_code == 201, invoice.text
    assert "idempotent-replayed" not in invoice.headers
    assert invoice.json()["object"] == "invoice"
    patched = await client.patch(customer_url, json={"name": "Ada L."}, headers=_keyed(tenant, "op"))
    assert patched.status_code == 200, patched.text
    assert "idempotent-replayed" not in patched.headers


async def test_replayed_patch_is_applied_once(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post(CUSTOMERS, json=ADA, headers=tenant.headers)
    url = f"{CUSTOMERS}/{created.json()['id']}"
    headers = _keyed(tenant, "rename", **{"If-Match": created.headers["etag"]})
    first = await client.patch(url, json={"name": "Ada L."}, headers=headers)
    # Without the key this retry would fail its now-stale If-Match; with it, the first answer comes back.
    replay = await client.patch(url, json={"name": "Ada L."}, headers=headers)
    assert first.status_code == 200, first.text
    assert replay.status_code == 200
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["etag"] == first.headers["etag"]
    assert (await client.get(url, headers=tenant.headers)).headers["etag"] == first.headers["etag"]


async def test_replayed_delete_answers_204_again(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post(CUSTOMERS, json=ADA, headers=tenant.headers)
    url = f"{CUSTOMERS}/{created.json()['id']}"
    first = await client.delete(url, headers=_keyed(tenant, "archive"))
    replay = await client.delete(url, headers=_keyed(tenant, "archive"))
    assert first.status_code == replay.status_code == 204
    assert replay.headers["idempotent-replayed"] == "true"
    without_key = await client.delete(url, headers=tenant.headers)
    assert without_key.status_code == 404


async def test_key_on_a_read_is_ignored(app: FastAPI, client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get(CUSTOMERS, headers=_keyed(tenant, "read"))
    assert response.status_code == 200
    assert "idempotent-replayed" not in response.headers
    assert await count_rows(app, IdempotencyKey) == 0


async def test_unauthenticated_request_with_a_key_stores_nothing(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.post(CUSTOMERS, json=ADA, headers={"Idempotency-Key": "anon"})
    assert_problem(response, 401, "unauthenticated")
    assert await count_rows(app, IdempotencyKey) == 0


async def test_keys_are_kept_for_24_hours(app: FastAPI, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "kept"))
    async with app.state.database.reader() as session:
        record = await session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "kept"))
    assert record is not None
    assert record.completed
    assert record.expires_at - record.created_at >= timedelta(hours=24)


async def test_expired_key_runs_the_request_again(app: FastAPI, client: httpx.AsyncClient, tenant: Tenant) -> None:
    first = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "old"))
    async with app.state.database.writer() as session:
        record = await session.scalar(select(IdempotencyKey).where(IdempotencyKey.key == "old"))
        assert record is not None
        record.expires_at = record.created_at - timedelta(seconds=1)
        await session.commit()
    again = await client.post(CUSTOMERS, json=ADA, headers=_keyed(tenant, "old"))
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
