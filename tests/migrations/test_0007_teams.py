"""Migration 0007 (invitations): matches the model, reverts cleanly, and passes the expand-only check."""

from __future__ import annotations

from pathlib import Path

from alembic import command

from shipyard.kit.migrate import alembic_config
from shipyard.kit.migration_safety import check_migrations
from shipyard.settings import Settings
from tests.fixtures.migrations import differences_and_tables, tables_at

VERSIONS = Path(__file__).parents[2] / "src" / "shipyard" / "migrations" / "versions"


async def test_the_migrated_invitations_table_matches_the_model(settings: Settings) -> None:
    differences, tables = await differences_and_tables(settings, {"invitations"})
    assert "invitations" in tables
    assert differences == []


def test_0007_downgrades_and_upgrades_again(settings: Settings, database_urls: tuple[str, str]) -> None:
    migrator_url = database_urls[1]
    config = alembic_config(settings, url=migrator_url)
    command.downgrade(config, "0006")
    assert "invitations" not in tables_at(settings, migrator_url)
    command.upgrade(config, "head")
    assert "invitations" in tables_at(settings, migrator_url)


def test_0007_only_expands() -> None:
    assert [str(v) for v in check_migrations(VERSIONS) if v.path.name.startswith("0007")] == []
