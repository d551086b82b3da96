"""Low-level work on SQLite files: a consistent online snapshot, the lock check, integrity and revision."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from shipyard.backup.age_keys import BackupError

# Pages copied per step of the online backup: small enough to report progress, large enough to be quick.
PAGES_PER_STEP = 1024
Progress = Callable[[int, int], None]


def sqlite_path(url: str) -> Path:
    """The file behind a `sqlite+aiosqlite:///path` URL."""
    _, sep, path = url.partition(":///")
    if not sep or not path or path.startswith(":memory:"):
        raise BackupError(f"not a SQLite file URL: {url}")
    return Path(path.split("?", 1)[0])


def snapshot(source: Path, destination: Path, progress: Progress | None = None) -> None:
    """Copy `source` to `destination` as one consistent snapshot while other processes keep writing.

    The source connection holds one read transaction across every backup step. Under WAL that pins the
    snapshot: writers carry on in the WAL, and the copy is exactly the database as of the moment the
    transaction began (the backup API would otherwise restart after each foreign write).
    """
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True, isolation_level=None, timeout=30)
    target = sqlite3.connect(destination, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM sqlite_master").fetchone()
        reader.backup(
            target,
            pages=PAGES_PER_STEP,
            progress=(lambda _status, remaining, total: progress(total - remaining, total)) if progress else None,
        )
        reader.execute("ROLLBACK")
    finally:
        target.close()
        reader.close()


def is_held(database: Path) -> bool:
    """Whether another process has `database` open (a running server, worker or sqlite3 shell).

    An exclusive-mode connection needs every other connection gone, even idle ones: under WAL each open
    connection keeps a shared lock, so this fails at once (timeout 0) exactly when someone holds it.
    """
    if not database.exists():
        return False
    probe = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        probe.execute("PRAGMA locking_mode=EXCLUSIVE")
        probe.execute("BEGIN EXCLUSIVE")
        probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
        probe.execute("ROLLBACK")
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()
    return False


def checkpoint(database: Path) -> None:
    """Fold the WAL into the main file, so the file alone is the whole database."""
    connection = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        connection.close()


def integrity_errors(database: Path) -> list[str]:
    """What `PRAGMA integrity_check` reports (empty when the file is sound).

    Opened read-write on purpose (it is a private staging file): a WAL-mode file opened read-only leaves
    its -wal and -shm files behind, while the last read-write connection removes them as it closes.
    """
    try:
        connection = sqlite3.connect(database, isolation_level=None)
    except sqlite3.Error as exc:
        return [str(exc)]
    try:
        rows = connection.execute("PRAGMA integrity_check").fetchall()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    finally:
        connection.close()
    found = [str(row[0]) for row in rows]
    return [] if found == ["ok"] else found


def schema_revision(database: Path) -> str | None:
    """The Alembic revision the file is at (None when it was never migrated); read-write, see above."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    finally:
        connection.close()
    return str(row[0]) if row else None


def remove_with_companions(path: Path) -> None:
    """Delete a database file and its -wal, -shm and -journal files."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


def fsync_file(path: Path) -> None:
    """Flush a file's content to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def fsync_directory(path: Path) -> None:
    """Make a rename in `path` durable (not every file system supports it)."""
    with contextlib.suppress(OSError):
        fsync_file(path)
