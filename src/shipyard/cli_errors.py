"""Start-up and configuration failures of the `shipyard` command, as one line naming the setting and the fix.

A bad `DATABASE_URL` or an unreachable server used to end in a traceback of hundreds of lines. The CLI
prints the line built here on stderr and exits with `EXIT_CONFIG` (docs/cli.md); the traceback is
still logged at DEBUG for whoever needs it.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from shipyard.settings import InvalidSettingError, MissingSettingsError, Settings, redact_url

# Exit codes of the `shipyard` command (the table in docs/cli.md).
EXIT_OK = 0
EXIT_CONFIG = 1
EXIT_USAGE = 2

_ENV_ALIASES = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL"}


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception it was raised from or during, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _setting_name(field: str) -> str:
    return _ENV_ALIASES.get(field, f"SHIPYARD_{field.upper()}")


def _invalid_values(exc: ValidationError) -> str:
    # The input itself is never echoed: it may be a secret.
    problems = [f"{_setting_name(str(error['loc'][0]))} ({error['msg']})" for error in exc.errors() if error["loc"]]
    return "invalid settings: " + "; ".join(problems) + "; fix them in the environment or the env file"


def _database_in_use(command: str | None) -> tuple[str, str] | None:
    """(setting name, redacted URL) of the database `command` connects to, when the settings load."""
    try:
        settings = Settings()
    except (ValidationError, RuntimeError):
        return None
    if command == "migrate" and settings.migration_database_url:
        return "SHIPYARD_MIGRATION_DATABASE_URL", settings.effective_migration_database_url
    name = "DATABASE_URL" if settings.database_url else "SHIPYARD_DATA_DIR"
    return name, settings.effective_database_url


def _database_problem(cause: BaseException, setting: str, url: str) -> str:
    shown = redact_url(url)
    reason = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    if isinstance(cause, sqlite3.OperationalError):
        database = make_url(url).database or ""
        folder = Path(database).parent
        if database and not folder.is_dir():
            return f"{setting}: the SQLite database's directory {folder} does not exist; create it or fix {setting}"
        return f"{setting}: cannot open the SQLite database {database} ({reason}); check its path and permissions"
    if isinstance(cause, socket.gaierror):
        return f"{setting}: the database host in {shown} does not resolve ({reason}); fix the host name in {setting}"
    if isinstance(cause, ConnectionRefusedError | TimeoutError):
        return (
            f"{setting}: nothing answers at {shown} ({reason}); start PostgreSQL or fix the host and port in {setting}"
        )
    return f"{setting}: cannot use the database at {shown} ({reason}); check the URL's user, password and database"


def _is_database_cause(cause: BaseException) -> bool:
    # Only network failures among OSErrors: a full disk while writing a backup is no database setting's fault.
    network = ConnectionError | TimeoutError | socket.gaierror
    return type(cause).__module__.startswith("asyncpg") or isinstance(cause, sqlite3.Error | network)


def _database_failure(chain: list[BaseException], command: str | None) -> str | None:
    in_use = _database_in_use(command)
    if in_use is None:
        return None
    setting, url = in_use
    if any(isinstance(link, ArgumentError) for link in chain):
        return f"{setting}: SQLAlchemy cannot parse {redact_url(url)}; write postgresql://USER:PASSWORD@HOST:5432/DB"
    causes = [link for link in chain if _is_database_cause(link)]
    if causes:
        return _database_problem(causes[-1], setting, url)
    if any(isinstance(link, SQLAlchemyError) for link in chain):
        return _database_problem(chain[-1], setting, url)
    return None


def explain(exc: BaseException, command: str | None) -> str | None:
    """One line naming the setting and the fix for a configuration or connection failure; None for others."""
    chain = list(_chain(exc))
    for link in chain:
        if isinstance(link, MissingSettingsError | InvalidSettingError):
            return str(link)
        if isinstance(link, ValidationError) and link.title == Settings.__name__:
            return _invalid_values(link)
    if any(type(link).__module__.startswith("redis") for link in chain):
        return "REDIS_URL: cannot reach Redis/Valkey; start it or fix the host, port and password in REDIS_URL"
    return _database_failure(chain, command)
