"""`shipyard backup` and `shipyard restore` for the embedded default: age-encrypted SQLite snapshots."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyrage
from alembic.script import ScriptDirectory
from pyrage import x25519

from shipyard.backup import sqlite_file
from shipyard.backup.age_keys import BackupError
from shipyard.backup.sqlite_file import Progress
from shipyard.kit.migrate import MIGRATIONS_DIR

SUFFIX = ".db.age"
PREFIX = "shipyard-"


@dataclass(frozen=True, slots=True)
class BackupResult:
    """A finished backup: where it is, how big, and how long it took."""

    path: Path
    size_bytes: int
    duration_s: float
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """A finished restore: the revision restored and where the previous file was kept."""

    database: Path
    revision: str
    kept_aside: Path | None


def backup_target(destination: Path | None, backup_dir: Path | None, now: datetime) -> Path:
    """The archive path: `destination` itself, a new file inside it (a directory) or in SHIPYARD_BACKUP_DIR."""
    name = f"{PREFIX}{now.strftime('%Y%m%dT%H%M%S%fZ')}{SUFFIX}"
    if destination is None:
        if backup_dir is None:
            raise BackupError("no PATH given and SHIPYARD_BACKUP_DIR is not set: pass a path or set the directory")
        destination = backup_dir
    if destination.is_dir() or destination == backup_dir:
        destination.mkdir(parents=True, exist_ok=True)
        return destination / name
    return destination


def take_backup(
    database: Path, destination: Path, recipient: x25519.Recipient, progress: Progress | None = None
) -> BackupResult:
    """Snapshot `database` online and encrypt it to `recipient`; the archive appears whole or not at all."""
    started = time.monotonic()
    token = secrets.token_hex(6)
    # The plaintext snapshot stays beside the live database (same trust as the database itself), never
    # in the backup directory, and is removed whatever happens.
    plain = database.with_name(f".{database.name}.backup-{token}")
    partial = destination.with_name(f".{destination.name}.partial-{token}")
    try:
        sqlite_file.snapshot(database, plain, progress)
        plain.chmod(0o600)
        pyrage.encrypt_file(str(plain), str(partial), [recipient])
        sqlite_file.fsync_file(partial)
        partial.replace(destination)
        sqlite_file.fsync_directory(destination.parent)
    except (OSError, pyrage.EncryptError) as exc:
        raise BackupError(f"backup to {destination} failed: {exc}") from None
    finally:
        sqlite_file.remove_with_companions(plain)
        partial.unlink(missing_ok=True)
    return BackupResult(destination, destination.stat().st_size, time.monotonic() - started, datetime.now(UTC))


def known_revisions() -> set[str]:
    """Every schema revision this version of Shipyard knows."""
    return {script.revision for script in ScriptDirectory(str(MIGRATIONS_DIR)).walk_revisions()}


def restore_backup(archive: Path, database: Path, identities: list[x25519.Identity]) -> RestoreResult:
    """Decrypt `archive`, check it, and swap it in for `database`, keeping the old file aside.

    The decrypted file is checked in full before anything touches `database`, and it replaces the
    database with one rename: a failure at any point leaves the old database as it was.
    """
    if not archive.is_file():
        raise BackupError(f"no backup at {archive}")
    database.parent.mkdir(parents=True, exist_ok=True)
    staging = database.with_name(f".{database.name}.restore-{secrets.token_hex(6)}")
    try:
        _decrypt(archive, staging, identities)
        revision = _check_restorable(archive, staging)
        if sqlite_file.is_held(database):
            raise BackupError(
                f"{database} is open in a running process: stop shipyard (serve, workers, scheduler) and retry"
            )
        kept_aside = _keep_aside(database)
        sqlite_file.fsync_file(staging)
        staging.replace(database)
        sqlite_file.fsync_directory(database.parent)
    finally:
        sqlite_file.remove_with_companions(staging)
    return RestoreResult(database, revision, kept_aside)


def _decrypt(archive: Path, staging: Path, identities: list[x25519.Identity]) -> None:
    staging.touch(mode=0o600)
    try:
        pyrage.decrypt_file(str(archive), str(staging), identities)
    except OSError as exc:
        if exc.errno is not None:  # a real I/O error (disk full, permissions), not a failed authentication
            raise BackupError(f"restoring {archive} failed: {exc}; the database was not touched") from None
        raise _undecryptable(archive) from None
    except pyrage.DecryptError:
        raise _undecryptable(archive) from None


def _undecryptable(archive: Path) -> BackupError:
    # age authenticates every 64 KiB chunk and the end of the stream: truncation and tampering both fail here.
    return BackupError(
        f"{archive} cannot be decrypted: it is truncated or was altered, or it was encrypted to another key"
        " than those in SHIPYARD_BACKUP_AGE_IDENTITY_FILE; the database was not touched"
    )


def _check_restorable(archive: Path, staging: Path) -> str:
    if errors := sqlite_file.integrity_errors(staging):
        raise BackupError(
            f"{archive} fails the integrity check ({'; '.join(errors[:3])}); the database was not touched"
        )
    revision = sqlite_file.schema_revision(staging)
    if revision is None:
        raise BackupError(f"{archive} is not a Shipyard database (no schema revision); the database was not touched")
    if revision not in known_revisions():
        raise BackupError(
            f"{archive} is at schema revision {revision}, which this version of Shipyard does not know:"
            " restore it with the version that took it; the database was not touched"
        )
    return revision


def _keep_aside(database: Path) -> Path | None:
    """Keep the current database as `<name>.before-restore-<time>`; the live path stays in place meanwhile."""
    if not database.exists():
        return None
    sqlite_file.checkpoint(database)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    aside = database.with_name(f"{database.name}.before-restore-{stamp}")
    os.link(database, aside)
    # The WAL and shared-memory files belong to the old database: replayed onto the restored one they
    # would corrupt it. After the checkpoint they hold nothing the main file lacks.
    for suffix in ("-wal", "-shm"):
        database.with_name(database.name + suffix).unlink(missing_ok=True)
    return aside


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest archives this command wrote in `directory`; return the deleted."""
    archives = sorted(directory.glob(f"{PREFIX}*{SUFFIX}"), key=lambda path: path.name, reverse=True)
    removed = archives[max(keep, 1) :]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed
