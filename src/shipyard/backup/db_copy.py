"""`shipyard db copy --to postgresql+asyncpg://...`: the embedded SQLite database into PostgreSQL at once.

The copy reads a consistent snapshot of the source (taken with the backup API), builds the target's
schema with the migrations, and copies every table in dependency order with COPY, all inside one
transaction on the target. Each table is then verified inside that transaction: row count and a
checksum computed the same way from both databases' values. Any failure rolls the transaction back,
so the target holds no rows again (the migrated, empty schema stays; a rerun starts over).
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from sqlalchemy import Table

from shipyard.backup import sqlite_file
from shipyard.backup.age_keys import BackupError
from shipyard.backup.copy_values import TableChecksum, kind, to_postgres
from shipyard.models import Base
from shipyard.settings import redact_url

BATCH_ROWS = 5000
Report = Callable[[str], None]


@dataclass
class CopyResult:
    """What was copied: rows per table (in copy order) and the time it took."""

    revision: str
    rows: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def total_rows(self) -> int:
        """Rows copied over every table."""
        return sum(self.rows.values())


def asyncpg_dsn(url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as the plain DSN asyncpg takes."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+", 1)[0] not in {"postgresql", "postgres"}:
        raise BackupError(f"--to must be a PostgreSQL URL (postgresql+asyncpg://...), not {redact_url(url)}")
    return f"postgresql://{rest}"


def take_snapshot(source: Path) -> Path:
    """A consistent copy of `source` beside it; refuses a source that a running process holds."""
    if not source.is_file():
        raise BackupError(f"no SQLite database at {source}")
    if sqlite_file.is_held(source):
        raise BackupError(
            f"{source} is open in a running process: stop shipyard (serve, workers, scheduler) first,"
            " or the writes made during the copy would be missing from PostgreSQL"
        )
    snapshot = source.with_name(f".{source.name}.copy-{secrets.token_hex(6)}")
    sqlite_file.snapshot(source, snapshot)
    return snapshot


async def occupied_tables(dsn: str) -> dict[str, int]:
    """Shipyard tables in the target that hold rows (an empty dict: safe to copy into)."""
    connection = await asyncpg.connect(dsn)
    try:
        existing = {
            row["table_name"]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        }
        occupied: dict[str, int] = {}
        for table in Base.metadata.sorted_tables:
            if table.name in existing:
                count = await connection.fetchval(f'SELECT count(*) FROM "{table.name}"')  # noqa: S608  # nosec B608 - our table names
                if count:
                    occupied[table.name] = int(count)
        return occupied
    finally:
        await connection.close()


async def target_revision(dsn: str) -> str | None:
    """The target's schema revision, None when it has no schema yet."""
    connection = await asyncpg.connect(dsn)
    try:
        if not await connection.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL"):
            return None
        value = await connection.fetchval("SELECT version_num FROM alembic_version")
        return str(value) if value is not None else None
    finally:
        await connection.close()


async def copy_snapshot(snapshot: Path, dsn: str, revision: str, *, force: bool, report: Report) -> CopyResult:
    """Copy and verify every table in one transaction on the target (see the module's docstring)."""
    started = time.monotonic()
    result = CopyResult(revision)
    source = sqlite3.connect(f"file:{snapshot}?mode=ro", uri=True, isolation_level=None)
    target = await asyncpg.connect(dsn)
    try:
        async with target.transaction():
            tables = Base.metadata.sorted_tables  # parents before children
            if force:
                names = ", ".join(f'"{table.name}"' for table in tables)
                await target.execute(f"TRUNCATE {names} CASCADE")
            for table in tables:
                result.rows[table.name] = await _copy_table(source, target, table)
                report(f"{table.name}: {result.rows[table.name]} rows copied")
            await _fix_sequences(target, tables)
            for table in tables:
                await _verify_table(source, target, table)
                report(f"{table.name}: {result.rows[table.name]} rows verified (count and checksum)")
    finally:
        await target.close()
        source.close()
    result.duration_s = time.monotonic() - started
    return result


def _batches(source: sqlite3.Connection, table: Table) -> Iterator[list[tuple[Any, ...]]]:
    columns = ", ".join(f'"{column.name}"' for column in table.columns)
    cursor = source.execute(f'SELECT {columns} FROM "{table.name}"')  # noqa: S608  # nosec B608 - names from our models
    while batch := cursor.fetchmany(BATCH_ROWS):
        yield batch


async def _copy_table(source: sqlite3.Connection, target: asyncpg.Connection, table: Table) -> int:
    kinds = [kind(column) for column in table.columns]
    names = [column.name for column in table.columns]
    copied = 0
    for batch in _batches(source, table):
        records = [
            tuple(
                to_postgres(k, value, f"{table.name}.{name} of row {row[0]!r}")
                for k, name, value in zip(kinds, names, row, strict=True)
            )
            for row in batch
        ]
        await target.copy_records_to_table(table.name, records=records, columns=names)
        copied += len(records)
    return copied


async def _fix_sequences(target: asyncpg.Connection, tables: list[Table]) -> None:
    """Move every serial/identity sequence past the copied rows (Shipyard's IDs are ULIDs: usually none)."""
    for table in tables:
        for column in table.columns:
            sequence = await target.fetchval("SELECT pg_get_serial_sequence($1, $2)", table.name, column.name)
            if sequence:
                await target.execute(
                    f'SELECT setval($1, COALESCE((SELECT max("{column.name}") FROM "{table.name}"), 0) + 1, false)',  # noqa: S608  # nosec B608 - our names
                    sequence,
                )


async def _verify_table(source: sqlite3.Connection, target: asyncpg.Connection, table: Table) -> None:
    kinds = [kind(column) for column in table.columns]
    names = [column.name for column in table.columns]
    expected = TableChecksum()
    for batch in _batches(source, table):
        for row in batch:
            where = f"{table.name} row {row[0]!r}"
            expected.add(kinds, [to_postgres(k, v, where) for k, v in zip(kinds, row, strict=True)])
    copied = TableChecksum()
    columns = ", ".join(f'"{name}"' for name in names)
    async for record in target.cursor(f'SELECT {columns} FROM "{table.name}"', prefetch=BATCH_ROWS):  # noqa: S608  # nosec B608 - names from our models
        copied.add(kinds, tuple(record))
    if copied != expected:
        raise BackupError(
            f"{table.name} differs after the copy: {expected.rows} rows in the source, {copied.rows} in the target"
            f"{', same count but different content' if expected.rows == copied.rows else ''}; nothing was committed"
        )
