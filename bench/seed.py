"""The benchmark's databases: roles and grants as in production, the schema, and their tenants.

Rows are bulk-loaded with COPY (bench/bulk.py), but each organisation, its owner and its token go
through Shipyard's own services, so they are exactly what the app expects to find.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import bulk

# Installs every domain's scopes and event types (decision 0055), which the tokens below are given.
import shipyard.domains  # noqa: F401
from shipyard.identity import service as identity_service
from shipyard.identity.scopes import ROLE_SCOPES
from shipyard.invoice_totals import service as invoice_totals
from shipyard.kit.db import create_database
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
# Seeding talks to a local, freshly started server: anything slower than this is a hang.
SEED_TIMEOUT_S = 120
# The organisations a creation run is spread over, the busy one included (issue 17).
SPREAD_ORGANIZATIONS = 8
SPREAD_CUSTOMERS = 200


@dataclass(frozen=True, slots=True)
class Database:
    """A migrated bench database: the app's URL and the migrator's plain libpq URL (for COPY)."""

    name: str
    app_url: str
    copy_url: str
    settings: Settings


@dataclass(frozen=True, slots=True)
class Seeded:
    """What the benchmark needs to know about the seeded database."""

    app_url: str
    organization_id: str
    token: str
    customer_ids: list[str]
    invoices: int
    # Every organisation a spread creation run writes into, the busy one first.
    spread: list[bulk.Tenant]


def create(postgres: PostgresServer, name: str) -> Database:
    """Roles (once per server), a database owned by the migrator, its grants, and the migrations."""
    # The names below are this module's constants, never input: no injection to guard against.
    if not postgres.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}'").strip():  # noqa: S608
        postgres.psql((SQL_DIR / "01-roles.sql").read_text(encoding="utf-8"))
    if not postgres.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip():  # noqa: S608
        postgres.psql(f"CREATE DATABASE {name} OWNER {MIGRATOR_ROLE};")
    postgres.psql((SQL_DIR / "02-grants.sql").read_text(encoding="utf-8"), dbname=name)
    app_url = postgres.dsn(name, user=APP_ROLE)
    settings = Settings(
        database_url=app_url,
        migration_database_url=postgres.dsn(name, user=MIGRATOR_ROLE),
        # The token cache and pools are irrelevant here; keep the seeding engine small.
        db_pool_size=2,
    )
    upgrade(settings)
    return Database(name, app_url, postgres.dsn(name, user=MIGRATOR_ROLE, driver=None), settings)


def tenant(database: Database, slug: str) -> bulk.Tenant:
    """A new, empty organisation with its owner and an all-scopes token, through Shipyard's services."""
    return asyncio.run(_identity(database.settings, slug))


def after_bulk_load(postgres: PostgresServer, database: Database) -> None:
    """What the app would have kept up to date had the rows come through it, then fresh statistics.

    COPY bypasses the app's write paths: anything they maintain beside the rows (a summary the MCP
    aggregates read, say) must be rebuilt here from the loaded rows, or the bench measures an empty
    summary. Statistics as autovacuum would have them on a database that grew to this size, and
    the load's dirty pages written out: otherwise the checkpointer writes the gigabyte a 1M-invoice
    COPY leaves behind while the scale phase times its requests, and one of three idle-machine runs
    measured every request at 1M (the small tenant's too) about 1.5 times slower than the runs around it.
    """
    asyncio.run(_rebuild_invoice_totals(database.settings))
    postgres.psql("VACUUM ANALYZE;", dbname=database.name, timeout=bulk.COPY_TIMEOUT_S)
    postgres.psql("CHECKPOINT;", timeout=bulk.COPY_TIMEOUT_S)


async def _rebuild_invoice_totals(settings: Settings) -> None:
    # The MCP aggregates read these totals, which the invoice services keep with every write.
    database = create_database(settings)
    try:
        async with database.writer() as session:
            for organization_id in await invoice_totals.organization_ids(session):
                await invoice_totals.rebuild(session, organization_id)
            await session.commit()
    finally:
        await database.dispose()


def prepare(postgres: PostgresServer, *, customers: int, invoices: int) -> Seeded:
    """The creation phases' database: one busy organisation and seven small ones beside it."""
    database = create(postgres, DATABASE)
    busy = tenant(database, "bench")
    busy = asyncio.run(
        bulk.load(database.copy_url, busy, customers=customers, invoices=invoices, audit_events=0, seed=20240601)
    )
    spread = [busy]
    for n in range(1, SPREAD_ORGANIZATIONS):
        small = tenant(database, f"bench-{n}")
        spread.append(
            asyncio.run(
                bulk.load(database.copy_url, small, customers=SPREAD_CUSTOMERS, invoices=0, audit_events=0, seed=n)
            )
        )
    after_bulk_load(postgres, database)
    return Seeded(database.app_url, busy.organization_id, busy.token, busy.customer_ids, invoices, spread)


async def _identity(settings: Settings, slug: str) -> bulk.Tenant:
    database = create_database(settings)
    try:
        async with asyncio.timeout(SEED_TIMEOUT_S), database.writer() as session:
            owner = await identity_service.get_or_create_user(session, f"owner@{slug}.bench.example", "Bench Owner")
            organization = await identity_service.create_organization(session, f"Bench {slug}", slug=slug, owner=owner)
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
            return bulk.Tenant(organization.id, issued.secret, owner.id, [])
    finally:
        await database.dispose()
