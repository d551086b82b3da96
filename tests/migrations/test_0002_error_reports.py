"""Migration 0002 (error reports): matches the model, and downgrades and re-applies on both databases."""

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
from shipyard.models.error_report import ErrorReport
from shipyard.settings import Settings


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [diff for diff in compare_metadata(context, Base.metadata) if "error_reports" in repr(diff)]


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_the_migrated_table_matches_the_model(settings: Settings) -> None:
    assert ErrorReport.__table__ in Base.metadata.sorted_tables
    database = create_database(settings)
    try:
        async with database.engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await database.dispose()
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


def test_0002_downgrades_and_upgrades_again(settings: Settings, database_urls: tuple[str, str]) -> None:
    # Synchronous: Alembic's env runs its own event loop.
    migrator_url = database_urls[1]
    config = alembic_config(settings, url=migrator_url)
    command.downgrade(config, "0001")
    assert "error_reports" not in _tables_at(settings, migrator_url)
    assert "customers" in _tables_at(settings, migrator_url)
    command.upgrade(config, "head")
    assert "error_reports" in _tables_at(settings, migrator_url)
