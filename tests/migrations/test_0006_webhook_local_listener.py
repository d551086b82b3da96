"""Migration 0006 (the development listener's flag on webhook endpoints): matches the model, reverts cleanly."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import Connection, inspect

from shipyard.kit.db import create_database
from shipyard.kit.migrate import alembic_config
from shipyard.settings import Settings
from tests.fixtures.migrations import differences_and_tables


def _columns_at(settings: Settings, url: str) -> set[str]:
    def columns(connection: Connection) -> set[str]:
        return {column["name"] for column in inspect(connection).get_columns("webhook_endpoints")}

    async def read() -> set[str]:
        database = create_database(settings, url=url)
        try:
            async with database.engine.connect() as connection:
                return await connection.run_sync(columns)
        finally:
            await database.dispose()

    return asyncio.run(read())


async def test_the_migrated_endpoints_table_matches_the_model(settings: Settings) -> None:
    differences, tables = await differences_and_tables(settings, {"webhook_endpoints"})
    assert "webhook_endpoints" in tables
    assert differences == []


def test_0006_downgrades_and_upgrades_again(settings: Settings, database_urls: tuple[str, str]) -> None:
    migrator_url = database_urls[1]
    config = alembic_config(settings, url=migrator_url)
    command.downgrade(config, "0005")
    assert "local_listener" not in _columns_at(settings, migrator_url)
    command.upgrade(config, "head")
    assert "local_listener" in _columns_at(settings, migrator_url)
