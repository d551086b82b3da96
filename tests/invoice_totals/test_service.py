"""The invoice totals stay equal to what the invoices themselves add up to, whatever writes ran.

After random sequences of creations, edits, deletions and lifecycle actions through the real API
(and, on PostgreSQL, several such sequences at once), every row the write paths maintained must
equal the row recomputed from `invoices` by SQL, and the counts, amounts and aging must equal a
model the test keeps of every invoice it touched.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from shipyard.invoice_totals import repository, service
from shipyard.kit.db import Database
from shipyard.models import InvoiceTotal, OpenInvoiceAging
from tests.fixtures.billing import create_customer, invoice_path
from tests.fixtures.tenants import Tenant

CURRENCIES = ("EUR", "JPY", "USD")
ACTIONS = ("create", "create", "update", "delete", "finalize", "pay", "void")


@dataclass
class World:
    """What the test believes: every live invoice's last JSON, by ID."""

    customers: list[str]
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    server_errors: list[str] = field(default_factory=list)


def _due(rng: random.Random) -> str | None:
    if rng.random() < 0.25:
        return None
    return (datetime.now(UTC).date() + timedelta(days=rng.randint(-130, 20))).isoformat()


def _lines(rng: random.Random) -> list[dict[str, Any]]:
    return [{"description": "work", "quantity": rng.randint(1, 5), "unit_amount": rng.randint(0, 90_000)}]


def _edit(rng: random.Random) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if rng.random() < 0.5:
        body["currency"] = rng.choice(CURRENCIES)
    if rng.random() < 0.5:
        body["line_items"] = _lines(rng)
    if rng.random() < 0.5:
        body["due_date"] = _due(rng)
    return body or {"memo": "nothing that counts"}


async def _step(client: httpx.AsyncClient, tenant: Tenant, world: World, rng: random.Random) -> None:
    action = rng.choice(ACTIONS)
    if action == "create" or not world.invoices:
        customer = rng.choice(world.customers)
        body: dict[str, Any] = {"currency": rng.choice(CURRENCIES), "line_items": _lines(rng)}
        if (due := _due(rng)) is not None:
            body["due_date"] = due
        response = await client.post(f"/api/v1/customers/{customer}/invoices", json=body, headers=tenant.headers)
    else:
        invoice = world.invoices[rng.choice(sorted(world.invoices))]
        if action == "update":
            response = await client.patch(invoice_path(invoice), json=_edit(rng), headers=tenant.headers)
        elif action == "delete":
            response = await client.delete(invoice_path(invoice), headers=tenant.headers)
            if response.status_code == 204:
                world.invoices.pop(invoice["id"], None)
        else:
            response = await client.post(invoice_path(invoice, f"/{action}"), headers=tenant.headers)
    if response.status_code >= 500:
        world.server_errors.append(response.text)
    elif response.status_code in {200, 201}:
        world.invoices[response.json()["id"]] = response.json()


async def _kept_and_recomputed(database: Database, organization_id: str) -> tuple[list[Any], list[Any]]:
    async with database.reader() as session:
        dialect = session.get_bind().dialect.name
        kept: list[Any] = []
        for table in (InvoiceTotal, OpenInvoiceAging):
            columns = [getattr(table, name) for name in (*repository.KEYS[table], "invoice_count", "amount")]
            kept.append(
                sorted(
                    map(_plain, await session.execute(select(*columns).where(table.organization_id == organization_id)))
                )
            )
        recomputed = [
            sorted(map(_plain, await session.execute(q))) for q in repository.recomputed(dialect, organization_id)
        ]
    return kept, recomputed


def _plain(row: Any) -> tuple[Any, ...]:
    # SQLite hands an aggregated date back as text: compare every value as the text both agree on.
    return tuple(str(value) for value in row)


def _bucket(aged_from: date, today: date) -> str:
    days = (today - aged_from).days
    return "0-30" if days <= 30 else "31-60" if days <= 60 else "61-90" if days <= 90 else "90+"


def _expected(
    world: World, today: date
) -> tuple[dict[str, int], list[tuple[str, int]], list[tuple[str, str, int, int]]]:
    statuses = Counter(invoice["status"] for invoice in world.invoices.values())
    outstanding: dict[str, int] = defaultdict(int)
    aging: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for invoice in world.invoices.values():
        if invoice["status"] != "open":
            continue
        outstanding[invoice["currency"]] += invoice["total"]
        due = invoice["due_date"]
        day = date.fromisoformat(due) if due else datetime.fromisoformat(invoice["finalized_at"]).astimezone(UTC).date()
        cell = aging[_bucket(day, today), invoice["currency"]]
        cell[0] += invoice["total"]
        cell[1] += 1
    return (
        dict(statuses),
        sorted(outstanding.items()),
        sorted((bucket, currency, total, count) for (bucket, currency), (total, count) in aging.items()),
    )


async def _assert_consistent(database: Database, tenant: Tenant, world: World) -> None:
    assert world.server_errors == []
    kept, recomputed = await _kept_and_recomputed(database, tenant.organization_id)
    assert kept == recomputed
    today = datetime.now(UTC).date()
    async with database.reader() as session:
        answered = (
            await service.status_counts(session, tenant.organization_id),
            await service.open_amounts(session, tenant.organization_id),
            sorted(await service.aging(session, tenant.organization_id, today)),
        )
    assert answered == _expected(world, today)


async def _world(client: httpx.AsyncClient, tenant: Tenant) -> World:
    return World([(await create_customer(client, tenant))["id"] for _ in range(3)])


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_the_totals_equal_the_invoices_after_random_writes(
    app: Any,
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    seed: int,
) -> None:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    world, neighbour = await _world(client, tenant), await _world(client, other_tenant)
    for step in range(120):
        await _step(client, tenant, world, rng)
        if step % 3 == 0:
            await _step(client, other_tenant, neighbour, rng)
        if step % 40 == 39:
            await _assert_consistent(app.state.database, tenant, world)
    assert len(world.invoices) > 10
    assert {invoice["status"] for invoice in world.invoices.values()} == {"draft", "open", "paid", "void"}
    await _assert_consistent(app.state.database, tenant, world)
    await _assert_consistent(app.state.database, other_tenant, neighbour)


@pytest.mark.postgres_only
async def test_concurrent_writers_lose_no_update_and_never_deadlock(
    app: Any,
    client: httpx.AsyncClient,
    tenant: Tenant,
) -> None:
    world = await _world(client, tenant)
    # Every worker starts from the same drafts, so they race on the same invoices and summary rows.
    for _ in range(12):
        await _step(client, tenant, world, random.Random(0))  # noqa: S311

    async def worker(seed: int) -> None:
        rng = random.Random(seed)  # noqa: S311
        for _ in range(25):
            await _step(client, tenant, world, rng)

    async with asyncio.timeout(120):
        await asyncio.gather(*(worker(seed) for seed in range(8)))
    # Concurrent edits of one invoice end in 409s; the model keeps whichever answer came last, so
    # reload every invoice before comparing.
    for invoice_id, invoice in list(world.invoices.items()):
        response = await client.get(invoice_path(invoice), headers=tenant.headers)
        if response.status_code == 404:
            del world.invoices[invoice_id]
        else:
            world.invoices[invoice_id] = response.json()
    await _assert_consistent(app.state.database, tenant, world)


async def test_a_rebuild_reproduces_the_kept_rows(app: Any, client: httpx.AsyncClient, tenant: Tenant) -> None:
    world = await _world(client, tenant)
    rng = random.Random(7)  # noqa: S311
    for _ in range(40):
        await _step(client, tenant, world, rng)
    database: Database = app.state.database
    before, _ = await _kept_and_recomputed(database, tenant.organization_id)
    async with database.writer() as session:
        await session.execute(InvoiceTotal.__table__.update().values(invoice_count=999))
        await service.rebuild(session, tenant.organization_id)
        await session.commit()
    after, recomputed = await _kept_and_recomputed(database, tenant.organization_id)
    assert after == before == recomputed
    assert before[0]
