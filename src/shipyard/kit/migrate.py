"""Running Alembic from code, so `shipyard migrate` needs no alembic.ini."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from shipyard.kit.db import require_sqlite_directory
from shipyard.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: Settings, *, url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations and the DDL role's URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's config is an INI parser: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", (url or settings.effective_migration_database_url).replace("%", "%%"))
    config.attributes["settings"] = settings
    return config


def upgrade(settings: Settings, revision: str = "head", *, url: str | None = None) -> None:
    """Migrate the database to `revision`."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        require_sqlite_directory(url or settings.effective_migration_database_url)
    command.upgrade(alembic_config(settings, url=url), revision)
