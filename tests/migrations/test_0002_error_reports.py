"""Migration 0002 (error reports): matches the model, and downgrades and re-applies on both databases."""

from __future__ import annotations

from alembic import command

from shipyard.kit.migrate import alembic_config
from shipyard.models import Base
from shipyard.models.error_report import ErrorReport
from shipyard.settings import Settings
from tests.fixtures.migrations import differences_and_tables, tables_at


async def test_the_migrated_table_matches_the_model(settings: Settings) -> None:
    assert ErrorReport.__table__ in Base.metadata.sorted_tables
    differences, _ = await differences_and_tables(settings, {"error_reports"})
    assert differences == []


def test_0002_downgrades_and_upgrades_again(settings: Settings, database_urls: tuple[str, str]) -> None:
    # Synchronous: Alembic's env runs its own event loop.
    migrator_url = database_urls[1]
    config = alembic_config(settings, url=migrator_url)
    command.downgrade(config, "0001")
    assert "error_reports" not in tables_at(settings, migrator_url)
    assert "customers" in tables_at(settings, migrator_url)
    command.upgrade(config, "head")
    assert "error_reports" in tables_at(settings, migrator_url)
