"""The one Settings object: every knob Shipyard reads from the environment."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shipyard.setting_values import (
    SECRET_KEY_RECIPE,
    InvalidSettingError,
    checked_sentry_dsn,
    normalize_database_url,
    redact_url,
    weak_secret_key_reason,
)

# InvalidSettingError and redact_url live in setting_values; callers keep importing them from here.
__all__ = [
    "DEFAULT_SQLITE_PATH",
    "Environment",
    "InvalidSettingError",
    "LogFormat",
    "MissingSettingsError",
    "Settings",
    "redact_url",
]

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


# Bech32: "age1" and 58 characters of its alphabet (no 1, b, i, o).
_AGE_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}")


class Settings(BaseSettings):
    """Shipyard configuration, read from `SHIPYARD_*` variables (and plain `DATABASE_URL`/`REDIS_URL`)."""

    model_config = SettingsConfigDict(env_prefix="SHIPYARD_", env_file=None, extra="ignore")

    # --- runtime ---------------------------------------------------------------
    env: Environment = Environment.DEVELOPMENT
    secret_key: SecretStr | None = None
    # Keys that were SHIPYARD_SECRET_KEY before, comma-separated: they still decrypt stored secrets and
    # accept CSRF tokens until `shipyard secrets rotate-key` has run (docs/operations/secrets.md).
    secret_key_previous: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    # `shipyard serve` bounds each connection itself (kit/server_limits.py), because people run it
    # without a proxy: the request line and headers must arrive within the header timeout and fit in
    # the header limit, a body within the body timeout, and an idle keep-alive connection closes.
    server_header_timeout_s: float = Field(default=10.0, gt=0)
    server_body_timeout_s: float = Field(default=30.0, gt=0)
    server_keep_alive_s: int = Field(default=5, ge=1)
    server_max_header_bytes: int = Field(default=16 * 1024, ge=1024)
    public_url: str = "http://127.0.0.1:8000"
    web_workers: int = 2
    # Behind exactly one reverse proxy (Caddy), take client IP, scheme and host from its
    # X-Forwarded-* headers (right-most entry). Off: those headers are ignored entirely.
    trust_proxy_headers: bool = False

    # --- data ------------------------------------------------------------------
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SHIPYARD_DATABASE_URL", "DATABASE_URL"),
    )
    migration_database_url: str | None = None
    db_pgbouncer: bool = False
    db_pool_size: int = 20
    db_max_overflow: int = 10
    db_pool_timeout_s: float = 10.0
    # asyncpg connections per process for the direct reads of read-only requests (kit/direct_reads.py),
    # on PostgreSQL without PgBouncer; opened on demand. 0 turns direct reads off.
    db_direct_pool_size: int = 10
    sqlite_busy_timeout_ms: int = 5000
    data_dir: Path = Path("var")
    # The commit a release directory was built from; /health reports it (docs/operations/deploys.md).
    release: str | None = None
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SHIPYARD_REDIS_URL", "REDIS_URL"),
    )

    # --- backups of the embedded SQLite database (docs/operations/backups.md) --------
    # Set: the scheduler takes a daily backup there, and `shipyard backup` writes there by default.
    backup_dir: Path | None = None
    # The age public key (age1...) backups are encrypted to; the secret key never sits on this host's
    # settings, only in the identity file given to `shipyard restore`.
    backup_age_recipient: str | None = None
    backup_age_identity_file: Path | None = None
    # How many scheduled backups to keep in backup_dir (the newest ones).
    backup_keep: int = Field(default=14, ge=1)

    # --- API contract ----------------------------------------------------------
    max_body_bytes: int = 1024 * 1024
    idempotency_ttl_hours: int = 24
    # The lease on a claimed key: its running request renews it every third of this, so a key whose
    # request died (crash, kill -9) is taken over by a retry at most this long after the death.
    idempotency_lock_s: float = Field(default=10.0, gt=0)
    require_if_match: bool = False
    token_cache_ttl_s: float = 5.0
    token_last_used_resolution_s: int = 60
    # How long an invitation link stays valid (docs/api/members.md).
    invitation_ttl_days: int = Field(default=7, ge=1, le=90)

    # --- observability ---------------------------------------------------------
    log_format: LogFormat | None = None
    log_level: str = "INFO"
    access_log: bool = True
    metrics_enabled: bool = True
    # When set, /metrics answers only on this local port (a second listener, e.g. gunicorn's
    # `SHIPYARD_BIND="0.0.0.0:8000 0.0.0.0:9100"`) and 404 on every other: a proxy or tunnel that
    # forwards the public port cannot reach the metrics.
    metrics_listen_port: int | None = Field(default=None, ge=1, le=65535)
    # Set: unhandled exceptions also go to this Sentry DSN, scrubbed (kit/sentry.py). Unset: only the
    # built-in error reports (GET /api/v1/errors) and the error log.
    sentry_dsn: SecretStr | None = None

    # --- MCP and operators -------------------------------------------------------
    # Host and Origin values the MCP endpoint accepts (JSON lists). Empty: the host of public_url,
    # plus loopback outside production (the SDK answers 421 to any other Host: DNS rebinding).
    mcp_allowed_hosts: list[str] = Field(default_factory=list)
    mcp_allowed_origins: list[str] = Field(default_factory=list)
    # Calls per window, per API token, of the MCP tools marked expensive (the organisation
    # aggregates, the customer search, the queues, PromQL); over it a call is refused with
    # `tool_budget_exhausted` (docs/mcp.md). 0 switches the budget off.
    mcp_expensive_tool_budget: int = Field(default=60, ge=0)
    mcp_expensive_tool_window_s: float = Field(default=60.0, gt=0)
    # Slug of the operators' organisation: its members with errors:read see every org's errors.
    operator_org: str | None = None

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _use_the_shipped_driver(cls, url: str | None, info: ValidationInfo) -> str | None:
        if not url:
            return None
        name = "DATABASE_URL" if info.field_name == "database_url" else "SHIPYARD_MIGRATION_DATABASE_URL"
        return normalize_database_url(url, setting=name)

    @model_validator(mode="after")
    def _default_log_format(self) -> Settings:
        if self.log_format is None:
            self.log_format = LogFormat.JSON if self.is_production else LogFormat.CONSOLE
        return self

    @model_validator(mode="after")
    def _require_backup_recipient(self) -> Settings:
        # A RuntimeError passes through pydantic unwrapped: the CLI prints it as one line.
        if self.backup_dir is not None and not _AGE_RECIPIENT.fullmatch((self.backup_age_recipient or "").strip()):
            raise InvalidSettingError(
                "SHIPYARD_BACKUP_DIR is set, so SHIPYARD_BACKUP_AGE_RECIPIENT must be the age public key"
                " (age1..., from `age-keygen -y KEYFILE`) that backups are encrypted to"
            )
        return self

    @model_validator(mode="after")
    def _require_a_sentry_dsn(self) -> Settings:
        self.sentry_dsn = checked_sentry_dsn(self.sentry_dsn)
        return self

    @property
    def previous_secret_keys(self) -> list[str]:
        """The older keys of the ring, newest first as written."""
        written = self.secret_key_previous.get_secret_value() if self.secret_key_previous else ""
        return [key.strip() for key in written.split(",") if key.strip()]

    @property
    def is_production(self) -> bool:
        """True when the strict production guards apply."""
        return self.env is Environment.PRODUCTION

    @property
    def effective_database_url(self) -> str:
        """The app role's URL; SQLite under `data_dir` when nothing is configured.

        A plain property, not a cached one: `model_copy(update=...)` copies a cached value, so a copy
        with another `database_url` would keep pointing at the old database.
        """
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
        elif problem := weak_secret_key_reason(self.secret_key.get_secret_value()):
            missing.append(f"SHIPYARD_SECRET_KEY ({problem}; generate one with {SECRET_KEY_RECIPE})")
        if not self.database_url:
            missing.append("DATABASE_URL (or SHIPYARD_DATABASE_URL)")
        if "public_url" not in self.model_fields_set:
            missing.append(
                "SHIPYARD_PUBLIC_URL (the https:// address users reach; sign-in, MCP and CSRF checks use it)"
            )
        if self.oidc_enabled:
            if self.oidc_client_secret is None or not self.oidc_client_secret.get_secret_value():
                missing.append("SHIPYARD_OIDC_CLIENT_SECRET")
            if not (self.oidc_issuer or "").startswith("https://"):
                missing.append("SHIPYARD_OIDC_ISSUER (must be https)")
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

    # --- jobs, webhooks and email ------------------------------------------------
    # Without REDIS_URL jobs run on taskiq's in-process broker, each worker feeding itself from the
    # database; with it, on the Redis Streams broker in database `jobs_redis_db` (acks, reclaim).
    jobs_redis_db: int = 2
    jobs_queue_name: str = "shipyard:jobs"
    # None: `serve` runs a worker and the scheduler in-process exactly when REDIS_URL is unset.
    jobs_embedded: bool | None = None
    jobs_concurrency: int = 32
    jobs_batch_size: int = 50
    # How often the relay looks for due work (new events, retries, emails) without being woken.
    jobs_poll_interval_s: float = 1.0
    # Work handed to the broker but not started by then is handed over again (a lost message).
    jobs_queue_lease_s: float = 300.0
    # A job still running after this long is presumed dead (kill -9) and its work is retried.
    jobs_run_lease_s: float = 60.0
    # Redis Streams: a message left unacknowledged this long is reclaimed by another worker.
    jobs_reclaim_idle_s: float = 600.0
    scheduler_lease_s: float = 30.0
    scheduler_tick_s: float = 1.0
    worker_metrics_port: int | None = None
    # Prometheus's base URL (http://127.0.0.1:9090) for the MCP tool query_metrics; unset: the tool refuses.
    prometheus_url: str | None = None
    webhook_timeout_s: float = 15.0
    # Delay before each attempt: about 3 days in all (docs/webhooks.md). Tests compress it.
    webhook_retry_schedule_s: list[float] = Field(
        default_factory=lambda: [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0, 50400.0, 72000.0, 86400.0]
    )
    webhook_retry_jitter: float = 0.1
    webhook_retry_after_max_s: float = 86400.0
    webhook_response_max_bytes: int = 4096
    webhook_secret_rotation_grace_s: float = 86400.0
    # None: https is required exactly in production.
    webhook_require_https: bool | None = None
    # Networks (CIDR) that webhooks may reach despite being private or loopback: for tests only.
    webhook_allowed_networks: list[str] = Field(default_factory=list)
    # No SMTP host: emails are written to the log instead of being sent (the development default).
    smtp_host: str | None = None
    smtp_port: int = 587
    # "starttls" (port 587), "tls" (implicit, port 465) or "none" (a local relay only).
    smtp_tls: str = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_s: float = 30.0
    email_from: str = "Shipyard <no-reply@localhost>"
    email_retry_schedule_s: list[float] = Field(default_factory=lambda: [0.0, 60.0, 300.0, 1800.0, 7200.0, 21600.0])

    # --- sign-in (OIDC) and browser sessions ---------------------------------------
    # Any standard OpenID provider; in production Authentik federating Google, GitHub, Microsoft and
    # Apple. Unset: browser sign-in is off (API tokens still work).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    # Exact callback URL registered at the provider; None: `<public_url>/api/auth/callback`.
    oidc_redirect_uri: str | None = None
    oidc_scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    # Sign-in buttons as `slug=Label` (Authentik source slugs, e.g. `google=Google`). Empty: one
    # plain "Sign in" button (any standard issuer).
    oidc_providers: list[str] = Field(default_factory=list)
    # ID token signature algorithms accepted, whatever the provider's discovery document lists.
    oidc_id_token_algs: list[str] = Field(default_factory=lambda: ["RS256", "ES256"])
    oidc_leeway_s: int = 60
    oidc_discovery_ttl_s: int = 3600
    oidc_http_timeout_s: float = 10.0
    # A login must come back from the provider within this long.
    oidc_login_ttl_s: int = 600
    session_access_ttl_s: int = 15 * 60
    session_refresh_ttl_s: int = 24 * 3600
    session_remember_ttl_s: int = 30 * 24 * 3600
    # Secure `__Host-` cookies. The only exception: development over plain http://localhost.
    session_cookie_secure: bool = True
    # Requests per minute per client IP on the login start and the callback.
    auth_rate_limit_per_minute: int = 5
    # --- API rate limits (docs/api/rate-limits.md) -------------------------------------
    # Calls per window on /api/v1 per token (per user for a browser session, per client address
    # when unauthenticated): reads are GET/HEAD/OPTIONS, writes everything else. 0 switches one off.
    api_rate_limit_reads: int = 1200
    api_rate_limit_writes: int = 300
    api_rate_limit_window_s: float = 60.0

    @property
    def oidc_enabled(self) -> bool:
        """Whether browser sign-in is configured."""
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def effective_oidc_redirect_uri(self) -> str:
        """The exact redirect URI sent to (and registered at) the provider."""
        return self.oidc_redirect_uri or f"{self.public_url.rstrip('/')}/api/auth/callback"

    @property
    def cookie_secure(self) -> bool:
        """Whether cookies are `Secure` (and `__Host-` prefixed): always, except in development."""
        return self.is_production or self.session_cookie_secure

    @property
    def sign_in_buttons(self) -> list[tuple[str | None, str]]:
        """(provider slug, label) per button; one (None, "Sign in") with a plain issuer."""
        buttons = [tuple(entry.split("=", 1)) for entry in self.oidc_providers if "=" in entry]
        return [(slug.strip(), label.strip()) for slug, label in buttons] or [(None, "Sign in")]

    @model_validator(mode="after")
    def _require_oidc_client_id(self) -> Settings:
        # An issuer without a client id used to turn sign-in off without a word: refuse it everywhere.
        if self.oidc_issuer and not self.oidc_client_id:
            raise InvalidSettingError(
                "SHIPYARD_OIDC_ISSUER is set but SHIPYARD_OIDC_CLIENT_ID is not: set the client id registered"
                " at the provider, or unset SHIPYARD_OIDC_ISSUER to run with API tokens only"
            )
        return self

    def production_warnings(self) -> list[str]:
        """What production would do quietly that an operator must hear about at start."""
        if self.is_production and not self.smtp_host:
            return [
                (
                    "SHIPYARD_SMTP_HOST is not set: emails (invitations, invoices) are only written to the log,"
                    " never sent; set SHIPYARD_SMTP_HOST, _PORT, _USER, _PASSWORD and SHIPYARD_EMAIL_FROM"
                )
            ]
        return []

    @model_validator(mode="after")
    def _refuse_test_only_webhook_settings(self) -> Settings:
        # A RuntimeError passes through pydantic unwrapped, so the CLI prints it like any missing setting.
        if self.is_production and self.webhook_allowed_networks:
            raise MissingSettingsError(["SHIPYARD_WEBHOOK_ALLOWED_NETWORKS empty (it is for tests only)"])
        return self

    @property
    def webhooks_require_https(self) -> bool:
        """Whether webhook URLs must be https (always in production)."""
        return self.is_production or bool(self.webhook_require_https)

    @property
    def jobs_run_embedded(self) -> bool:
        """Whether `serve` runs a worker and the scheduler in its own process."""
        return self.redis_url is None if self.jobs_embedded is None else self.jobs_embedded
