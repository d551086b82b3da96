"""Migration 0010 (invoice totals): matches the models, backfills what the invoices add up to, reverts cleanly."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import insert, select

from shipyard.invoice_totals.service import aged_from, shard_of
from shipyard.kit.db import create_database
from shipyard.kit.ids import new_id
from shipyard.kit.migrate import alembic_config
from shipyard.kit.migration_safety import check_migrations
from shipyard.models import Customer, Invoice, InvoiceTotal, OpenInvoiceAging, Organization
from shipyard.settings import Settings
from tests.fixtures.migrations import differences_and_tables, tables_at

VERSIONS = Path(__file__).parents[2] / "src" / "shipyard" / "migrations" / "versions"
TABLES = {"invoice_totals", "open_invoice_aging"}
# More organisations than the backfill's batch of 100, so it has to take a second batch.
SMALL_ORGANIZATIONS = 104
STATUSES = ("draft", "open", "paid", "void")


async def test_the_migrated_tables_match_the_models(settings: Settings) -> None:
    differences, tables = await differences_and_tables(settings, TABLES)
    assert tables >= TABLES
    assert differences == []


def test_0010_only_expands() -> None:
    assert [str(v) for v in check_migrations(VERSIONS) if v.path.name.startswith("0010")] == []


def _invoices(organization_id: str, customer_id: str, count: int, now: datetime) -> list[dict[str, Any]]:
    rows = []
    for number in range(1, count + 1):
        status = STATUSES[number % 4]
        # Late in the UTC day, so a time zone other than UTC would move the aging day.
        finalized = now - timedelta(days=number % 50, hours=1) if status != "draft" else None
        rows.append(
            {
                "id": new_id("inv"),
                "organization_id": organization_id,
                "customer_id": customer_id,
                "number": number,
                "status": status,
                "currency": ("EUR", "JPY")[number % 2],
                "line_items": [],
                "total": number * 100,
                "due_date": None if number % 3 == 0 else date(2026, 1, 1) + timedelta(days=number),
                "memo": "",
                "finalized_at": finalized,
                "version": 1,
                "created_at": now - timedelta(days=60),
                "updated_at": now,
            }
        )
    return rows


def _expected(invoices: list[dict[str, Any]]) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """The rows, computed in Python from the inserted values (not by the SQL under test)."""
    totals: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    aging: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0])
    for row in invoices:
        shard = shard_of(row["id"])
        cells = [totals[row["organization_id"], row["status"], row["currency"], shard]]
        if row["status"] == "open":
            day = aged_from(row["due_date"], row["finalized_at"], row["created_at"])
            cells.append(aging[row["organization_id"], row["currency"], day, shard])
        for cell in cells:
            cell[0] += 1
            cell[1] += row["total"]
    return {(*k, *v) for k, v in totals.items()}, {(*k, *v) for k, v in aging.items()}


async def _seed(settings: Settings, url: str) -> list[dict[str, Any]]:
    database = create_database(settings, url=url)
    now = datetime.now(UTC).replace(hour=23, minute=30)
    invoices: list[dict[str, Any]] = []
    try:
        async with database.writer() as session:
            for index in range(SMALL_ORGANIZATIONS + 1):
                organization = Organization(name=f"org {index}", slug=f"backfill-{index}")
                session.add(organization)
                await session.flush()
                customer = Customer(organization_id=organization.id, name="c", email=f"c{index}@example.com")
                session.add(customer)
                await session.flush()
                invoices += _invoices(organization.id, customer.id, 400 if index == 0 else 2, now)
            await session.execute(insert(Invoice), invoices)
            await session.commit()
    finally:
        await database.dispose()
    return invoices


async def _kept(settings: Settings, url: str) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    database = create_database(settings, url=url)
    try:
        async with database.reader() as session:
            totals = {tuple(row) for row in await session.execute(select(*InvoiceTotal.__table__.columns))}
            aging = {tuple(row) for row in await session.execute(select(*OpenInvoiceAging.__table__.columns))}
    finally:
        await database.dispose()
    return totals, aging


def test_0010_backfills_the_totals_of_existing_invoices_and_downgrades(
    settings: Settings, database_urls: tuple[str, str]
) -> None:
    url = database_urls[1]
    config = alembic_config(settings, url=url)
    command.downgrade(config, "0009")
    assert not TABLES & tables_at(settings, url)
    invoices = asyncio.run(_seed(settings, url))

    command.upgrade(config, "head")

    kept_totals, kept_aging = asyncio.run(_kept(settings, url))
    expected_totals, expected_aging = _expected(invoices)
    assert kept_totals == expected_totals
    assert kept_aging == expected_aging
    assert len({row[0] for row in kept_totals}) == SMALL_ORGANIZATIONS + 1
