"""`shipyard db copy` as an operation: checks, migrations, the copy, its audit event and log line."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from shipyard.audit import service as audit
from shipyard.backup import db_copy, sqlite_file
from shipyard.backup.age_keys import BackupError
from shipyard.backup.archive import known_revisions
from shipyard.backup.db_copy import CopyResult, Report
from shipyard.backup.operations import audit_quietly, log, operator
from shipyard.kit.migrate import upgrade
from shipyard.settings import Settings, redact_url

COMMAND = "shipyard db copy"


def run_copy(settings: Settings, to_url: str, *, force: bool, report: Report) -> CopyResult:
    """Copy the configured SQLite database into the PostgreSQL database at `to_url`; audit and log it."""
    details: dict[str, Any] = {**operator(COMMAND), "target": redact_url(to_url), "force": force}
    try:
        result = _copy(settings, to_url, force=force, report=report)
    except (BackupError, OSError, asyncpg.PostgresError) as exc:
        # asyncpg's messages name the server and the problem, never the password.
        message = str(exc) if isinstance(exc, BackupError) else f"copy to {redact_url(to_url)} failed: {exc}"
        log.error("database_copy_failed", error=message, **details)
        audit_quietly(settings, "database.copy_failed", audit.FAILURE, {**details, "error": message})
        raise BackupError(message) from None
    details.update(
        revision=result.revision,
        rows=result.rows,
        total_rows=result.total_rows,
        duration_ms=round(result.duration_s * 1000),
    )
    log.info("database_copied", **details)
    # Recorded in the target: the database the app runs on from now on.
    audit_quietly(settings, "database.copied", audit.SUCCESS, details, url=to_url)
    return result


def _copy(settings: Settings, to_url: str, *, force: bool, report: Report) -> CopyResult:
    if not settings.is_sqlite:
        raise BackupError("shipyard db copy moves the embedded SQLite database; the configured database is not SQLite")
    dsn = db_copy.asyncpg_dsn(to_url)
    snapshot = db_copy.take_snapshot(sqlite_file.sqlite_path(settings.effective_database_url))
    try:
        revision = sqlite_file.schema_revision(snapshot)
        if revision is None or revision not in known_revisions():
            raise BackupError(f"the source is at schema revision {revision}, unknown to this version: migrate it first")
        occupied = asyncio.run(db_copy.occupied_tables(dsn))
        if occupied and not force:
            held = ", ".join(f"{name} ({rows} rows)" for name, rows in occupied.items())
            raise BackupError(f"the target is not empty: {held}; pass --force to replace its contents")
        current = asyncio.run(db_copy.target_revision(dsn))
        if current not in {None, revision}:
            raise BackupError(
                f"the target's schema is at revision {current} and the source's at {revision}:"
                " bring both to the same revision with shipyard migrate first"
            )
        report(f"building the target schema at revision {revision} (migrations)")
        upgrade(settings.model_copy(update={"database_url": to_url, "migration_database_url": None}), revision)
        return asyncio.run(db_copy.copy_snapshot(snapshot, dsn, revision, force=force, report=report))
    finally:
        sqlite_file.remove_with_companions(snapshot)
