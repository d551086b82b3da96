"""The one Settings object: every knob Shipyard reads from the environment."""

from __future__ import annotations

from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_PATH = Path("var/shipyard.db")


class Environment(StrEnum):
    """Where Shipyard runs; production turns on the strict guards."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class LogFormat(StrEnum):
    """How log lines are rendered."""

    CONSOLE = "console"
    JSON = "json"


class MissingSettingsError(RuntimeError):
    """Production was asked to start without settings it cannot run without."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(
            "refusing to start in production; missing required settings: " + ", ".join(missing),
        )


class Settings(BaseSettings):
    """Shipyard configuration, read from `SHIPYARD_*` variables (and plain `DATABASE_URL`/`REDIS_URL`)."""

    model_config = SettingsConfigDict(env_prefix="SHIPYARD_", env_file=None, extra="ignore")

    # --- runtime ---------------------------------------------------------------
    env: Environment = Environment.DEVELOPMENT
    secret_key: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = "http://127.0.0.1:8000"
    web_workers: int = 2

    # --- data ------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SHIPYARD_DATABASE_URL", "DATABASE_URL"),
    )
    migration_database_url: str | None = None
    db_pgbouncer: bool = False
    db_pool_size: int = 10
    db_max_overflow: int = 10
    db_pool_timeout_s: float = 10.0
    sqlite_busy_timeout_ms: int = 5000
    data_dir: Path = Path("var")
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SHIPYARD_REDIS_URL", "REDIS_URL"),
    )

    # --- API contract ----------------------------------------------------------
    max_body_bytes: int = 1024 * 1024
    idempotency_ttl_hours: int = 24
    # A claimed key whose request never finished (crash, kill -9) is released after this long.
    idempotency_lock_s: int = 60
    require_if_match: bool = False
    token_cache_ttl_s: float = 5.0
    token_last_used_resolution_s: int = 60

    # --- observability ---------------------------------------------------------
    log_format: LogFormat | None = None
    log_level: str = "INFO"
    access_log: bool = True
    metrics_enabled: bool = True

    @model_validator(mode="after")
    def _default_log_format(self) -> Settings:
        if self.log_format is None:
            self.log_format = LogFormat.JSON if self.is_production else LogFormat.CONSOLE
        return self

    @property
    def is_production(self) -> bool:
        """True when the strict production guards apply."""
        return self.env is Environment.PRODUCTION

    @cached_property
    def effective_database_url(self) -> str:
        """The app role's URL; SQLite under `data_dir` when nothing is configured."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / DEFAULT_SQLITE_PATH.name}"

    @property
    def effective_migration_database_url(self) -> str:
        """The DDL role's URL, falling back to the app role's."""
        return self.migration_database_url or self.effective_database_url

    @property
    def is_sqlite(self) -> bool:
        """True on the embedded default."""
        return self.effective_database_url.startswith("sqlite")

    def missing_for_production(self) -> list[str]:
        """Names of required settings that production lacks."""
        missing: list[str] = []
        if self.secret_key is None or not self.secret_key.get_secret_value():
            missing.append("SHIPYARD_SECRET_KEY")
        elif len(self.secret_key.get_secret_value()) < 32:  # noqa: PLR2004 - 256 bits of hex/base64 is the floor
            missing.append("SHIPYARD_SECRET_KEY (must be at least 32 characters)")
        if not self.database_url:
            missing.append("DATABASE_URL (or SHIPYARD_DATABASE_URL)")
        return missing

    def require_production_ready(self) -> None:
        """Raise `MissingSettingsError` naming every missing setting, in production only."""
        if self.is_production and (missing := self.missing_for_production()):
            raise MissingSettingsError(missing)

    def redacted(self) -> dict[str, Any]:
        """The effective configuration with every secret (and URL password) masked."""
        shown: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if isinstance(value, SecretStr):
                shown[name] = "**********" if value.get_secret_value() else ""
            elif isinstance(value, str) and "://" in value:
                shown[name] = redact_url(value)
            elif isinstance(value, Path | StrEnum):
                shown[name] = str(value)
            else:
                shown[name] = value
        shown["effective_database_url"] = redact_url(self.effective_database_url)
        return shown


def redact_url(url: str) -> str:
    """Mask the password in a URL such as `postgresql://user:pw@host/db`."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, _, location = rest.rpartition("@")
    user, has_password, _ = credentials.partition(":")
    return f"{scheme}://{user}{':***' if has_password else ''}@{location}"
