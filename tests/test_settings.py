"""The one Settings object: production guard, environment names, redaction and database wiring."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from shipyard.app import create_app
from shipyard.kit.db import Database, create_database
from shipyard.setting_values import weak_secret_key_reason
from shipyard.settings import (
    InvalidSettingError,
    LogFormat,
    MissingSettingsError,
    Settings,
    redact_url,
)
from tests.fixtures.log_capture import production_logs
from tests.fixtures.pgbouncer import PgBouncerServer
from tests.fixtures.servers import PostgresServer

# High-entropy, as production requires (a repeated character is refused as too guessable).
SECRET = "Zq8vN3xT1pLr6Wd0Ya5Kc2He9Ub4Mf7Gs-Jo_Ei"
DB_PASSWORD = "hunter2-db-password"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No SHIPYARD_*/DATABASE_URL/REDIS_URL from the developer's shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("SHIPYARD_") or name in {"DATABASE_URL", "REDIS_URL"}:
            monkeypatch.delenv(name)
    return monkeypatch


def test_production_without_secret_key_or_database_url_names_both(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SHIPYARD_ENV", "production")
    clean_env.setenv("SHIPYARD_PUBLIC_URL", "https://app.example.com")
    settings = Settings()
    with pytest.raises(MissingSettingsError) as raised:
        settings.require_production_ready()
    message = str(raised.value)
    assert "SHIPYARD_SECRET_KEY" in message
    assert "DATABASE_URL" in message
    assert len(raised.value.missing) == 2


def test_create_app_refuses_production_without_required_settings(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SHIPYARD_ENV", "production")
    clean_env.setenv("SHIPYARD_SECRET_KEY", SECRET)
    with pytest.raises(MissingSettingsError, match="DATABASE_URL"):
        create_app()


def test_production_rejects_a_short_secret_key(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SHIPYARD_ENV", "production")
    clean_env.setenv("SHIPYARD_SECRET_KEY", "short")
    clean_env.setenv("DATABASE_URL", "postgresql+asyncpg://app@db/shipyard")
    with pytest.raises(MissingSettingsError, match="at least 32"):
        Settings().require_production_ready()


def test_production_with_secret_key_and_database_url_starts(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SHIPYARD_ENV", "production")
    clean_env.setenv("SHIPYARD_SECRET_KEY", SECRET)
    clean_env.setenv("DATABASE_URL", "postgresql+asyncpg://app@127.0.0.1:1/shipyard")
    clean_env.setenv("SHIPYARD_PUBLIC_URL", "https://app.example.com")
    settings = Settings()
    settings.require_production_ready()
    assert create_app(settings).state.settings is settings
    assert settings.log_format is LogFormat.JSON


def test_development_defaults_to_console_logs(clean_env: pytest.MonkeyPatch) -> None:
    assert clean_env is not None
    assert Settings().log_format is LogFormat.CONSOLE


def test_plain_database_url_and_redis_url_are_read(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DATABASE_URL", "postgresql+asyncpg://app@db/plain")
    clean_env.setenv("REDIS_URL", "redis://cache:6379/1")
    settings = Settings()
    assert settings.effective_database_url == "postgresql+asyncpg://app@db/plain"
    assert settings.redis_url == "redis://cache:6379/1"
    assert not settings.is_sqlite


def test_prefixed_database_url_wins_over_the_plain_one(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DATABASE_URL", "postgresql+asyncpg://app@db/plain")
    clean_env.setenv("SHIPYARD_DATABASE_URL", "postgresql+asyncpg://app@db/prefixed")
    assert Settings().database_url == "postgresql+asyncpg://app@db/prefixed"


def test_sqlite_is_the_default_under_data_dir(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("SHIPYARD_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.is_sqlite
    assert settings.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'shipyard.db'}"
    assert settings.effective_migration_database_url == settings.effective_database_url


def test_a_copy_with_another_database_url_points_at_it(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("SHIPYARD_DATA_DIR", str(tmp_path))
    settings = Settings()
    assert settings.is_sqlite
    other = settings.model_copy(update={"database_url": "postgresql+asyncpg://app@db/other"})
    assert other.effective_database_url == "postgresql+asyncpg://app@db/other"


def test_redacted_masks_secrets_and_url_passwords(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SHIPYARD_SECRET_KEY", SECRET)
    clean_env.setenv("DATABASE_URL", f"postgresql+asyncpg://app:{DB_PASSWORD}@db:5432/shipyard")
    clean_env.setenv("SHIPYARD_MIGRATION_DATABASE_URL", f"postgresql+asyncpg://migrator:{DB_PASSWORD}@db/shipyard")
    clean_env.setenv("REDIS_URL", f"redis://:{DB_PASSWORD}@cache:6379/0")
    shown = Settings().redacted()
    dumped = json.dumps(shown, default=str)
    assert SECRET not in dumped
    assert DB_PASSWORD not in dumped
    assert shown["secret_key"] == "**********"
    assert shown["database_url"] == "postgresql+asyncpg://app:***@db:5432/shipyard"
    assert shown["effective_database_url"] == "postgresql+asyncpg://app:***@db:5432/shipyard"
    assert shown["redis_url"] == "redis://:***@cache:6379/0"
    # Everything that is not a secret is shown as is.
    assert shown["db_pool_size"] == 20
    assert shown["public_url"] == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@ss@h:5/db", "postgresql://u:***@h:5/db"),
        ("postgresql://h/db?sslmode=require&password=pw", "postgresql://h/db?sslmode=require&password=***"),
        ("postgresql://u:pw@h/db?application_name=a@b", "postgresql://u:***@h/db?application_name=a@b"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite+aiosqlite:///var/shipyard.db", "sqlite+aiosqlite:///var/shipyard.db"),
    ],
)
def test_redact_url_masks_every_password_form(url: str, expected: str) -> None:
    assert redact_url(url) == expected


async def _pragma(database: Database, name: str, *, write: bool) -> object:
    factory = database.writer if write else database.reader
    async with factory() as session:
        return (await session.execute(text(f"PRAGMA {name}"))).scalar_one()


async def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {
            "data_dir": tmp_path,
            "database_url": f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
            "sqlite_busy_timeout_ms": 4321,
        }
    )
    database = create_database(settings)
    try:
        for write in (False, True):
            assert await _pragma(database, "journal_mode", write=write) == "wal"
            assert await _pragma(database, "foreign_keys", write=write) == 1
            assert await _pragma(database, "busy_timeout", write=write) == 4321
    finally:
        await database.dispose()


@pytest.fixture
def pgbouncer(postgres_server: PostgresServer) -> Iterator[PgBouncerServer]:
    """PgBouncer in transaction mode in front of the session's PostgreSQL."""
    with PgBouncerServer(postgres_server, users=("shipyard_app",), pool_size=2) as bouncer:
        yield bouncer


@pytest.mark.postgres_only
async def test_pgbouncer_mode_survives_transaction_pooling(
    pgbouncer: PgBouncerServer, database_urls: tuple[str, str], tmp_path: Path
) -> None:
    dbname = database_urls[0].rsplit("/", 1)[1]
    settings = Settings.model_validate(
        {"data_dir": tmp_path, "database_url": pgbouncer.dsn(dbname, "shipyard_app"), "db_pgbouncer": True}
    )
    database = create_database(settings)
    query = text("SELECT count(*) FROM organizations WHERE slug <> :slug")
    try:
        async with database.engine.connect() as a, database.engine.connect() as b:
            # A runs a statement on server connection S1 and ends its transaction; B's transaction then
            # holds S1, so A's next transaction runs on S2, where nothing of A's was ever prepared.
            assert (await a.execute(query, {"slug": "x"})).scalar_one() >= 0
            await a.commit()
            assert (await b.execute(text("SELECT 1"))).scalar_one() == 1
            for round_ in range(3):
                assert (await a.execute(query, {"slug": str(round_)})).scalar_one() >= 0
                assert (await a.execute(text("SELECT :n + 1"), {"n": round_})).scalar_one() == round_ + 1
                await a.commit()
            await b.commit()
    finally:
        await database.dispose()


@pytest.mark.postgres_only
async def test_pgbouncer_mode_turns_asyncpg_statement_cache_off(database_urls: tuple[str, str], tmp_path: Path) -> None:
    settings = Settings.model_validate({"data_dir": tmp_path, "database_url": database_urls[0], "db_pgbouncer": True})
    database = create_database(settings)
    try:
        async with database.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            assert driver._config.statement_cache_size == 0
            for query in ("SELECT 1", "SELECT 2", "SELECT 1"):
                assert (await connection.execute(text(query))).scalar_one() in {1, 2}
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    ("written", "used"),
    [
        ("postgresql://app:pw@db:5432/shipyard", "postgresql+asyncpg://app:pw@db:5432/shipyard"),
        ("postgres://app:pw@db/shipyard", "postgresql+asyncpg://app:pw@db/shipyard"),
        ("sqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
        ("postgresql+asyncpg://app@db/shipyard", "postgresql+asyncpg://app@db/shipyard"),
    ],
)
def test_common_database_url_forms_use_the_shipped_driver(
    clean_env: pytest.MonkeyPatch, written: str, used: str
) -> None:
    clean_env.setenv("DATABASE_URL", written)
    clean_env.setenv("SHIPYARD_MIGRATION_DATABASE_URL", written)
    settings = Settings()
    assert settings.effective_database_url == used
    assert settings.effective_migration_database_url == used


@pytest.mark.parametrize(
    "written", ["mysql://app@db/x", "postgresql+psycopg://app:pw@db/x", "db.internal", "sqlite://"]
)
def test_a_database_url_shipyard_cannot_use_is_refused_by_name(clean_env: pytest.MonkeyPatch, written: str) -> None:
    clean_env.setenv("DATABASE_URL", written)
    with pytest.raises(InvalidSettingError, match=r"^DATABASE_URL is not a database URL") as raised:
        Settings()
    assert ":pw@" not in str(raised.value)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("change-me-to-a-long-random-string-of-at-least-32-characters", "placeholder"),
        ("k" * 48, "too little entropy"),
        ("abababababababababababababababababab", "too little entropy"),
    ],
)
def test_production_refuses_placeholder_and_low_entropy_keys(
    clean_env: pytest.MonkeyPatch, key: str, reason: str
) -> None:
    clean_env.setenv("SHIPYARD_ENV", "production")
    clean_env.setenv("SHIPYARD_SECRET_KEY", key)
    clean_env.setenv("DATABASE_URL", "postgresql://app@db/shipyard")
    clean_env.setenv("SHIPYARD_PUBLIC_URL", "https://app.example.com")
    with pytest.raises(MissingSettingsError, match=reason) as raised:
        Settings().require_production_ready()
    assert raised.value.missing[0].startswith("SHIPYARD_SECRET_KEY")
    assert key not in str(raised.value)


def test_the_secret_key_in_env_example_is_refused() -> None:
    example = Path(__file__).parent.parent / "deploy" / "env.example"
    key = next(
        line.split("=", 1)[1] for line in example.read_text().splitlines() if line.startswith("SHIPYARD_SECRET_KEY=")
    )
    assert weak_secret_key_reason(key) is not None


def test_production_requires_the_public_url(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SHIPYARD_ENV", "production")
    clean_env.setenv("SHIPYARD_SECRET_KEY", SECRET)
    clean_env.setenv("DATABASE_URL", "postgresql://app@db/shipyard")
    with pytest.raises(MissingSettingsError, match="SHIPYARD_PUBLIC_URL") as raised:
        Settings().require_production_ready()
    assert len(raised.value.missing) == 1


def test_an_issuer_without_a_client_id_is_refused_by_name(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SHIPYARD_OIDC_ISSUER", "https://id.example.com/")
    with pytest.raises(InvalidSettingError, match="SHIPYARD_OIDC_CLIENT_ID"):
        Settings()


def test_production_warns_when_email_would_only_be_logged(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SHIPYARD_ENV", "production")
    assert any("SHIPYARD_SMTP_HOST" in warning for warning in Settings().production_warnings())
    clean_env.setenv("SHIPYARD_SMTP_HOST", "smtp.example.com")
    assert Settings().production_warnings() == []
    clean_env.setenv("SHIPYARD_ENV", "development")
    clean_env.delenv("SHIPYARD_SMTP_HOST")
    assert Settings().production_warnings() == []


def test_create_app_in_production_warns_loudly_without_smtp(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SHIPYARD_ENV", "production")
    clean_env.setenv("SHIPYARD_SECRET_KEY", SECRET)
    clean_env.setenv("DATABASE_URL", "postgresql://app@127.0.0.1:1/shipyard")
    clean_env.setenv("SHIPYARD_PUBLIC_URL", "https://app.example.com")
    with production_logs() as logs:
        create_app(Settings())
    [warning] = logs.events("production_setting_warning")
    assert warning["level"] == "warning"
    assert "SHIPYARD_SMTP_HOST" in warning["detail"]
    clean_env.setenv("SHIPYARD_SMTP_HOST", "smtp.example.com")
    with production_logs() as logs:
        create_app(Settings())
    assert logs.events("production_setting_warning") == []
