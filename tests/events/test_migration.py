"""Migration 0003 (outbox, webhooks, email, scheduler lease): matches the models, downgrades and re-applies."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect

from shipyard.kit.db import create_database
from shipyard.kit.migrate import alembic_config
from shipyard.models import Base
from shipyard.settings import Settings

TABLES = {
    "events",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "email_messages",
    "job_leases",
    "job_runs",
}


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [diff for diff in compare_metadata(context, Base.metadata) if any(t in repr(diff) for t in TABLES)]


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_the_migrated_tables_match_the_models(settings: Settings) -> None:
    database = create_database(settings)
    try:
        async with database.engine.connect() as connection:
            differences = await connection.run_sync(_differences)
            tables = await connection.run_sync(_tables)
    finally:
        await database.dispose()
    assert tables >= TABLES
    assert differences == []


def _tables_at(settings: Settings, url: str) -> set[str]:
    async def read() -> set[str]:
        database = create_database(settings, url=url)
        try:
            async with database.engine.connect() as connection:
                return await connection.run_sync(_tables)
        finally:
            await database.dispose()

    return asyncio.run(read())


def test_0003_downgrades_and_upgrades_again(settings: Settings, database_urls: tuple[str, str]) -> None:
    migrator_url = database_urls[1]
    config = alembic_config(settings, url=migrator_url)
    command.downgrade(config, "0002")
    assert not TABLES & _tables_at(settings, migrator_url)
    assert "error_reports" in _tables_at(settings, migrator_url)
    command.upgrade(config, "head")
    assert _tables_at(settings, migrator_url) >= TABLES
