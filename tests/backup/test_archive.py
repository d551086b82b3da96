"""`shipyard backup` and `shipyard restore` on the embedded SQLite database, in-process."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shipyard.backup import archive
from shipyard.backup.age_keys import BackupError
from shipyard.backup.operations import run_backup, run_restore
from shipyard.settings import Settings

pytestmark = pytest.mark.timeout(120)


@contextmanager
def _open(database: Path) -> Iterator[sqlite3.Connection]:
    """A connection that commits and, unlike sqlite3's own context manager, is closed afterwards."""
    connection = sqlite3.connect(database)
    try:
        with connection:
            yield connection
    finally:
        connection.close()


def _organization_ids(database: Path) -> set[str]:
    with _open(database) as connection:
        return {row[0] for row in connection.execute("SELECT id FROM organizations")}


def _insert_organization(connection: sqlite3.Connection, number: int, padding: str = "") -> str:
    org_id = f"org_test{number:020d}"
    connection.execute(
        "INSERT INTO organizations (id, slug, name, invoice_seq, created_at, updated_at)"
        " VALUES (?, ?, ?, 0, '2026-12-06 00:00:00.000000', '2026-12-06 00:00:00.000000')",
        (org_id, f"org-{number}", f"Organisation {number} {padding}"),
    )
    return org_id


class _Writer(threading.Thread):
    """Commits one organisation after another until stopped, remembering what it committed."""

    def __init__(self, database: Path) -> None:
        super().__init__(daemon=True)
        self.database = database
        self.committed: list[str] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def run(self) -> None:
        connection = sqlite3.connect(self.database, timeout=30, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        number = 1_000_000
        while not self.stopping.is_set():
            connection.execute("BEGIN IMMEDIATE")
            org_id = _insert_organization(connection, number)
            connection.execute("COMMIT")
            with self.lock:
                self.committed.append(org_id)
            number += 1
        connection.close()

    def committed_so_far(self) -> set[str]:
        with self.lock:
            return set(self.committed)


def _fill(database: Path, rows: int) -> None:
    with _open(database) as connection:
        for number in range(rows):
            _insert_organization(connection, number, padding="x" * 2000)


def _untouched_state(database: Path) -> tuple[set[str], str]:
    """The rows that matter and the schema: the refusal's own audit event may be added, nothing else."""
    with _open(database) as connection:
        schema = "".join(row[0] or "" for row in connection.execute("SELECT sql FROM sqlite_master ORDER BY name"))
    return _organization_ids(database), hashlib.sha256(schema.encode()).hexdigest()


def _audit_actions(database: Path) -> list[str]:
    with _open(database) as connection:
        return [row[0] for row in connection.execute("SELECT action FROM audit_events ORDER BY id")]


def test_a_backup_during_a_burst_of_writes_restores_every_row_committed_before_it(
    backup_settings: Settings, database_file: Path, tmp_path: Path
) -> None:
    _fill(database_file, 6000)  # ~12 MB: several backup steps, with writes landing between them
    writer = _Writer(database_file)
    writer.start()
    while len(writer.committed_so_far()) < 50:
        time.sleep(0.01)
    before = _organization_ids(database_file)
    commits_at_steps: list[int] = []

    def progress(_done: int, _total: int) -> None:
        commits_at_steps.append(len(writer.committed_so_far()))
        time.sleep(0.05)  # let the writer commit between steps

    result = run_backup(backup_settings, None, "test", progress)
    writer.stopping.set()
    writer.join()

    assert len(commits_at_steps) > 1
    assert commits_at_steps[-1] > commits_at_steps[0], "no write landed while the backup ran"
    assert result.path.parent == backup_settings.backup_dir
    assert result.path.name.endswith(".db.age")
    assert result.size_bytes == result.path.stat().st_size
    assert b"SQLite format 3" not in result.path.read_bytes()[:4096]  # encrypted, not a plain copy

    restored = tmp_path / "restored" / "shipyard.db"
    restored_settings = backup_settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{restored}"})
    run_restore(restored_settings, result.path, "test")
    with _open(restored) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert before <= _organization_ids(restored)


@pytest.mark.parametrize("damage", ["truncated", "tampered"])
def test_a_damaged_backup_is_refused_and_the_database_is_untouched(
    backup_settings: Settings, database_file: Path, damage: str
) -> None:
    _fill(database_file, 200)
    result = run_backup(backup_settings, None, "test")
    data = bytearray(result.path.read_bytes())
    if damage == "truncated":
        del data[len(data) // 2 :]
    else:
        data[len(data) // 2] ^= 0x01
    result.path.write_bytes(bytes(data))
    with _open(database_file) as connection:
        _insert_organization(connection, 99_999)  # the live database now differs from the backup
    before = _untouched_state(database_file)

    with pytest.raises(BackupError, match="cannot be decrypted: it is truncated or was altered"):
        run_restore(backup_settings, result.path, "test")

    assert _untouched_state(database_file) == before
    assert _audit_actions(database_file)[-1] == "backup.restore_failed"
    assert sorted(p.name for p in database_file.parent.iterdir() if p.name.startswith(".")) == []


def test_a_backup_for_another_key_is_refused(backup_settings: Settings, tmp_path: Path) -> None:
    result = run_backup(backup_settings, None, "test")
    other_key = tmp_path / "other.key"
    from pyrage import x25519

    other_key.write_text(f"{x25519.Identity.generate()}\n", encoding="utf-8")

    with pytest.raises(BackupError, match="encrypted to another key"):
        run_restore(backup_settings.model_copy(update={"backup_age_identity_file": other_key}), result.path, "test")


def test_an_encrypted_file_that_is_no_sound_database_is_refused_before_the_swap(
    backup_settings: Settings, database_file: Path, tmp_path: Path
) -> None:
    """Decryption succeeds, the integrity check fails: the live database stays as it was."""
    import pyrage
    from pyrage import x25519

    _fill(database_file, 200)
    broken = bytearray(database_file.read_bytes())
    middle = len(broken) // 2
    broken[middle : middle + 8192] = b"\xff" * 8192  # two pages of garbage behind a valid header
    archive_path = tmp_path / "broken.db.age"
    recipient = x25519.Recipient.from_str(backup_settings.backup_age_recipient or "")
    archive_path.write_bytes(pyrage.encrypt(bytes(broken), [recipient]))
    before = _untouched_state(database_file)

    with pytest.raises(BackupError, match="fails the integrity check"):
        run_restore(backup_settings, archive_path, "test")

    assert _untouched_state(database_file) == before
    assert [p.name for p in database_file.parent.iterdir() if ".restore-" in p.name] == []


def test_a_backup_at_an_unknown_schema_revision_is_refused(
    backup_settings: Settings, database_file: Path, tmp_path: Path
) -> None:
    newer = tmp_path / "newer.db"
    newer.write_bytes(database_file.read_bytes())
    with _open(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    result = run_backup(backup_settings.model_copy(update={"database_url": f"sqlite+aiosqlite:///{newer}"}), None, "t")

    with pytest.raises(BackupError, match="schema revision 9999_from_the_future, which this version"):
        run_restore(backup_settings, result.path, "test")


def test_restore_refuses_a_database_that_a_running_process_holds(
    backup_settings: Settings, database_file: Path
) -> None:
    result = run_backup(backup_settings, None, "test")
    holder = sqlite3.connect(database_file)  # idle, like a server's pooled connection
    holder.execute("SELECT 1 FROM organizations").fetchall()
    try:
        with pytest.raises(BackupError, match="is open in a running process"):
            run_restore(backup_settings, result.path, "test")
    finally:
        holder.close()
    run_restore(backup_settings, result.path, "test")  # once it is closed, the restore goes through


def test_restore_keeps_the_old_database_aside_and_audits_both_operations(
    backup_settings: Settings, database_file: Path
) -> None:
    result = run_backup(backup_settings, None, "test backup")
    with _open(database_file) as connection:
        late = _insert_organization(connection, 424_242)

    restored = run_restore(backup_settings, result.path, "test restore")

    assert restored.kept_aside is not None
    assert late in _organization_ids(restored.kept_aside)
    assert late not in _organization_ids(database_file)
    actions = _audit_actions(database_file)
    with _open(database_file) as connection:
        details = connection.execute("SELECT actor_type, details FROM audit_events WHERE action = 'backup.restored'")
        actor_type, restored_details = details.fetchone()
    # The backup's own event was written after its snapshot, so only the restore's is in the restored file.
    assert actions == ["backup.restored"]
    assert actor_type == "system"
    assert '"command": "test restore"' in restored_details or '"command":"test restore"' in restored_details
    assert _audit_actions(restored.kept_aside) == ["backup.created"]


def test_prune_keeps_the_newest_backups(backup_settings: Settings) -> None:
    assert backup_settings.backup_dir is not None
    taken = [run_backup(backup_settings, None, "test").path for _ in range(3)]

    removed = archive.prune(backup_settings.backup_dir, 2)

    assert removed == [taken[0]]
    assert sorted(backup_settings.backup_dir.iterdir()) == sorted(taken[1:])


def test_backup_on_postgresql_points_to_pgbackrest(backup_settings: Settings) -> None:
    on_postgres = backup_settings.model_copy(update={"database_url": "postgresql+asyncpg://nobody@127.0.0.1:1/none"})

    with pytest.raises(BackupError, match="PostgreSQL is backed up by pgBackRest"):
        run_backup(on_postgres, None, "test")
    with pytest.raises(BackupError, match=r"backups-postgres\.md"):
        run_restore(on_postgres, Path("any.db.age"), "test")
