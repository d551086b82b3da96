"""Webhook signing secrets stay out of caches and out of the Idempotency-Key store (issue 12, item 1)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from shipyard.app import create_app
from shipyard.models import IdempotencyKey
from shipyard.settings import Settings
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.receiver import Receiver
from tests.fixtures.tenants import Tenant

BASE = "/api/v1/webhook-endpoints"


@pytest.fixture
async def app(fast_settings: Settings) -> AsyncIterator[FastAPI]:
    """The app, allowed to register loopback receivers (no jobs: nothing here is delivered)."""
    application = create_app(fast_settings)
    async with running_lifespan(application):
        yield application


@pytest.fixture
def endpoint(receiver: Receiver) -> dict[str, Any]:
    """A new endpoint's payload."""
    return {"url": receiver.url, "event_types": ["*"]}


async def _stored_bodies(app: FastAPI) -> list[bytes]:
    async with app.state.database.writer() as session:
        rows = (await session.scalars(select(IdempotencyKey))).all()
        return [row.response_body or b"" for row in rows]


async def _assert_withheld_on_replay(
    app: FastAPI, client: httpx.AsyncClient, path: str, headers: dict[str, str], payload: object
) -> None:
    first = await client.post(path, json=payload, headers=headers)
    assert first.status_code < 300, first.text
    secret = first.json()["secret"]
    assert secret.startswith("whsec_")
    assert first.headers["cache-control"] == "no-store"
    assert all(secret.encode() not in body and b"whsec_" not in body for body in await _stored_bodies(app))
    replay = await client.post(path, json=payload, headers=headers)
    # Not assert_problem: a replayed problem keeps the first request's request_id, by design.
    assert replay.status_code == 409
    assert replay.json()["code"] == "idempotency_response_withheld"
    assert replay.headers["idempotent-replayed"] == "true"
    assert secret not in replay.text


async def test_created_endpoint_secret_is_never_stored_nor_replayed(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, endpoint: dict[str, Any]
) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "create-endpoint"}
    await _assert_withheld_on_replay(app, client, BASE, headers, endpoint)
    listed = await client.get(BASE, headers=tenant.headers)
    assert len(listed.json()["data"]) == 1  # the withheld replay did not create a second endpoint


async def test_rotated_secret_is_never_stored_nor_replayed(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, endpoint: dict[str, Any]
) -> None:
    created = await client.post(BASE, json=endpoint, headers=tenant.headers)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"  # without a key too: no cache may keep it
    rotate = f"{BASE}/{created.json()['id']}/rotate-secret"
    await _assert_withheld_on_replay(app, client, rotate, {**tenant.headers, "Idempotency-Key": "rotate"}, None)


async def test_reads_without_a_secret_stay_cacheable_and_replayable(
    client: httpx.AsyncClient, tenant: Tenant, endpoint: dict[str, Any]
) -> None:
    created = await client.post(BASE, json=endpoint, headers=tenant.headers)
    path = f"{BASE}/{created.json()['id']}"
    read = await client.get(path, headers=tenant.headers)
    assert "no-store" not in read.headers.get("cache-control", "")
    headers = {**tenant.headers, "Idempotency-Key": "describe", "If-Match": read.headers["etag"]}
    first = await client.patch(path, json={"description": "main"}, headers=headers)
    replay = await client.patch(path, json={"description": "main"}, headers=headers)
    assert first.status_code == 200, first.text
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
