"""The benchmark's database: roles and grants as in production, the schema, and one busy organisation.

Rows are bulk-loaded with COPY (a few seconds for 60k rows, where the ORM would take minutes), but
the organisation, its owner and the token go through Shipyard's own services, so they are exactly
what the app expects to find.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg

from shipyard.identity import service as identity_service
from shipyard.identity.scopes import ROLE_SCOPES
from shipyard.kit.db import create_database
from shipyard.kit.ids import new_id
from shipyard.kit.migrate import upgrade
from shipyard.models import Role
from shipyard.settings import Settings

if TYPE_CHECKING:
    from tests.fixtures.servers import PostgresServer

REPO = Path(__file__).resolve().parent.parent
SQL_DIR = REPO / "deploy" / "postgres"
DATABASE = "shipyard"
APP_ROLE = "shipyard_app"
MIGRATOR_ROLE = "shipyard_migrator"
STATUSES = ("draft", "open", "paid", "void")
CURRENCIES = ("EUR", "USD", "GBP")
# Seeding talks to a local, freshly started server: anything slower than this is a hang.
SEED_TIMEOUT_S = 120


@dataclass(frozen=True, slots=True)
class Seeded:
    """What the benchmark needs to know about the seeded database."""

    app_url: str
    organization_id: str
    token: str
    customer_ids: list[str]
    invoices: int


def prepare(postgres: PostgresServer, *, customers: int, invoices: int) -> Seeded:
    """Create roles, migrate as the migrator, seed one organisation; return how to reach it."""
    postgres.psql((SQL_DIR / "01-roles.sql").read_text(encoding="utf-8"))
    postgres.psql((SQL_DIR / "02-grants.sql").read_text(encoding="utf-8"), dbname=DATABASE)
    app_url = postgres.dsn(DATABASE, user=APP_ROLE)
    settings = Settings(
        database_url=app_url,
        migration_database_url=postgres.dsn(DATABASE, user=MIGRATOR_ROLE),
        # The token cache and pools are irrelevant here; keep the seeding engine small.
        db_pool_size=2,
    )
    upgrade(settings)
    organization_id, token = asyncio.run(_identity(settings))
    copy_url = postgres.dsn(DATABASE, user=MIGRATOR_ROLE, driver=None)
    customer_ids = asyncio.run(_bulk(copy_url, organization_id, customers=customers, invoices=invoices))
    # Fresh statistics, as autovacuum would have them on a database that grew to this size.
    postgres.psql("VACUUM ANALYZE;", dbname=DATABASE, timeout=SEED_TIMEOUT_S)
    return Seeded(app_url, organization_id, token, customer_ids, invoices)


async def _identity(settings: Settings) -> tuple[str, str]:
    """The organisation, its owner and an all-scopes token, through Shipyard's services."""
    database = create_database(settings)
    try:
        async with asyncio.timeout(SEED_TIMEOUT_S), database.writer() as session:
            owner = await identity_service.get_or_create_user(session, "owner@bench.example", "Bench Owner")
            organization = await identity_service.create_organization(session, "Bench Inc", slug="bench", owner=owner)
            await session.flush()
            issued = await identity_service.issue_token(
                session,
                organization.id,
                owner.id,
                name="bench",
                scopes=sorted(ROLE_SCOPES[Role.OWNER]),
                expires_in=None,
                principal=None,
            )
            await session.commit()
            return organization.id, issued.secret
    finally:
        await database.dispose()


def _sorted_ids(prefix: str, count: int) -> list[str]:
    # IDs made in the same millisecond differ only in their random part; sorting them makes ID
    # order match creation order (and invoice numbers), as it does for rows created one by one.
    return sorted(new_id(prefix) for _ in range(count))


async def _bulk(url: str, organization_id: str, *, customers: int, invoices: int) -> list[str]:
    """COPY the customers and invoices in; set the organisation's invoice counter to match."""
    rng = random.Random(20240601)  # noqa: S311 - reproducible fake data, not a secret
    start = datetime.now(UTC) - timedelta(days=90)
    customer_ids = _sorted_ids("cus", customers)
    customer_rows = [
        (
            cid,
            organization_id,
            f"Customer {n:05d}",
            f"customer{n:05d}@bench.example",
            # Metadata is string to string (CustomerRead.metadata).
            json.dumps({"segment": rng.choice(("smb", "mid", "enterprise")), "seed": str(n)}),
            None,
            1,
            start + timedelta(seconds=n * 60),
            start + timedelta(seconds=n * 60),
        )
        for n, cid in enumerate(customer_ids, start=1)
    ]
    invoice_rows = []
    for number, iid in enumerate(_sorted_ids("inv", invoices), start=1):
        quantity, unit_amount = rng.randint(1, 20), rng.randint(100, 100_000)
        lines = [{"description": "Consulting", "quantity": quantity, "unit_amount": unit_amount}]
        lines[0]["amount"] = quantity * unit_amount
        created = start + timedelta(seconds=number * 120)
        status = rng.choice(STATUSES)
        invoice_rows.append(
            (
                iid,
                organization_id,
                customer_ids[number % customers],
                number,
                status,
                rng.choice(CURRENCIES),
                json.dumps(lines),
                quantity * unit_amount,
                date(2026, 1, 1) + timedelta(days=number % 365),
                "",
                created if status != "draft" else None,
                created if status == "paid" else None,
                created if status == "void" else None,
                1,
                created,
                created,
            ),
        )
    connection = await asyncpg.connect(url, timeout=10)
    try:
        async with asyncio.timeout(SEED_TIMEOUT_S), connection.transaction():
            await connection.copy_records_to_table(
                "customers",
                records=customer_rows,
                columns=[
                    "id",
                    "organization_id",
                    "name",
                    "email",
                    "metadata",
                    "archived_at",
                    "version",
                    "created_at",
                    "updated_at",
                ],
            )
            await connection.copy_records_to_table(
                "invoices",
                records=invoice_rows,
                columns=[
                    "id",
                    "organization_id",
                    "customer_id",
                    "number",
                    "status",
                    "currency",
                    "line_items",
                    "total",
                    "due_date",
                    "memo",
                    "finalized_at",
                    "paid_at",
                    "voided_at",
                    "version",
                    "created_at",
                    "updated_at",
                ],
            )
            await connection.execute(
                "UPDATE organizations SET invoice_seq = $1 WHERE id = $2", invoices, organization_id
            )
    finally:
        await connection.close()
    return customer_ids
