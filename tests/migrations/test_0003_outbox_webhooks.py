"""Migration 0003 (outbox, webhooks, email, scheduler lease): matches the models, downgrades and re-applies."""

from __future__ import annotations

from alembic import command

from shipyard.kit.migrate import alembic_config
from shipyard.settings import Settings
from tests.fixtures.migrations import differences_and_tables, tables_at

TABLES = {
    "events",
    "webhook_endpoints",
    "webhook_deliveries",
    "webhook_attempts",
    "email_messages",
    "job_leases",
    "job_runs",
}


async def test_the_migrated_tables_match_the_models(settings: Settings) -> None:
    differences, tables = await differences_and_tables(settings, TABLES)
    assert tables >= TABLES
    assert differences == []


def test_0003_downgrades_and_upgrades_again(settings: Settings, database_urls: tuple[str, str]) -> None:
    migrator_url = database_urls[1]
    config = alembic_config(settings, url=migrator_url)
    command.downgrade(config, "0002")
    assert not TABLES & tables_at(settings, migrator_url)
    assert "error_reports" in tables_at(settings, migrator_url)
    command.upgrade(config, "head")
    assert tables_at(settings, migrator_url) >= TABLES
