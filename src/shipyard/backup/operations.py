"""Backups and restores as operations: the work, its audit event, its log line and the state record."""

from __future__ import annotations

import asyncio
import getpass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shipyard.audit import service as audit
from shipyard.backup import age_keys, archive, sqlite_file, state
from shipyard.backup.archive import BackupResult, RestoreResult
from shipyard.backup.sqlite_file import Progress
from shipyard.kit.db import create_database
from shipyard.kit.logging import get_logger
from shipyard.settings import Settings

log = get_logger("shipyard.backup")


def operator(command: str) -> dict[str, str]:
    """Who ran it: the operator's command and OS user (the audit event's actor is the system)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container with an arbitrary UID)
        user = "unknown"
    return {"command": command, "os_user": user}


async def record_audit(
    settings: Settings, action: str, *, result: str, details: dict[str, Any], url: str | None = None
) -> None:
    """Append one audit event to the database at `url` (the configured one by default), in its own transaction."""
    database = create_database(settings, url=url)
    try:
        async with database.writer() as session:
            audit.record(session, None, action, target_type="database", result=result, details=details)
            await session.commit()
    finally:
        await database.dispose()


def run_backup(
    settings: Settings, destination: Path | None, command: str, progress: Progress | None = None
) -> BackupResult:
    """Take a backup now; audit, log and record it (a failure is audited and logged, then raised)."""
    details: dict[str, Any] = operator(command)
    try:
        database = sqlite_file.sqlite_path(_sqlite_url(settings))
        target = archive.backup_target(destination, settings.backup_dir, datetime.now(UTC))
        details["path"] = str(target)
        result = archive.take_backup(database, target, age_keys.recipient(settings.backup_age_recipient), progress)
    except age_keys.BackupError as exc:
        log.error(  # noqa: TRY400 - a refusal with its reason; no traceback to show
            "backup_failed", error=str(exc), **details
        )
        audit_quietly(settings, "backup.failed", audit.FAILURE, {**details, "error": str(exc)})
        raise
    state.record_success(
        state.state_path(settings.data_dir),
        str(result.path.parent.resolve()),
        finished_unix=result.finished_at.timestamp(),
        size_bytes=result.size_bytes,
    )
    details.update(size_bytes=result.size_bytes, duration_ms=round(result.duration_s * 1000))
    log.info("backup_created", **details)
    audit_quietly(settings, "backup.created", audit.SUCCESS, details)
    return result


def run_restore(settings: Settings, source: Path, command: str) -> RestoreResult:
    """Restore `source` over the configured database; audit and log it, whichever way it ends."""
    details: dict[str, Any] = {**operator(command), "path": str(source)}
    try:
        database = sqlite_file.sqlite_path(_sqlite_url(settings))
        result = archive.restore_backup(source, database, age_keys.identities(settings.backup_age_identity_file))
    except age_keys.BackupError as exc:
        log.error(  # noqa: TRY400 - a refusal with its reason; no traceback to show
            "restore_failed", error=str(exc), **details
        )
        audit_quietly(settings, "backup.restore_failed", audit.FAILURE, {**details, "error": str(exc)})
        raise
    details.update(revision=result.revision, kept_aside=str(result.kept_aside) if result.kept_aside else None)
    log.info("backup_restored", **details)
    # Recorded in the restored database: the one the app runs on from now on.
    audit_quietly(settings, "backup.restored", audit.SUCCESS, details)
    return result


async def scheduled_backup(settings: Settings) -> None:
    """The scheduler's daily backup into SHIPYARD_BACKUP_DIR, then pruning to SHIPYARD_BACKUP_KEEP."""
    if settings.backup_dir is None or not settings.is_sqlite:
        return
    await asyncio.to_thread(_scheduled_backup_sync, settings)


def _scheduled_backup_sync(settings: Settings) -> None:
    assert settings.backup_dir is not None  # noqa: S101 - checked by the caller; narrows the type
    run_backup(settings, settings.backup_dir, "scheduler backup.daily")
    removed = archive.prune(settings.backup_dir, settings.backup_keep)
    if removed:
        log.info("backups_pruned", removed=[path.name for path in removed], keep=settings.backup_keep)


def _sqlite_url(settings: Settings) -> str:
    if not settings.is_sqlite:
        raise age_keys.BackupError(
            "shipyard backup and restore cover the embedded SQLite database; PostgreSQL is backed up"
            " by pgBackRest, see docs/operations/backups-postgres.md"
        )
    return settings.effective_database_url


def audit_quietly(
    settings: Settings, action: str, result: str, details: dict[str, Any], *, url: str | None = None
) -> None:
    """Audit from synchronous code (the CLI, or the scheduler's worker thread: neither runs a loop).

    A database that cannot take the event is logged, not fatal.
    """
    try:
        if url or not settings.is_sqlite or sqlite_file.sqlite_path(settings.effective_database_url).exists():
            asyncio.run(record_audit(settings, action, result=result, details=details, url=url))
    except Exception as exc:  # noqa: BLE001 - the operation's own outcome must stand; the log line remains
        log.warning("audit_failed", action=action, error=type(exc).__name__)
