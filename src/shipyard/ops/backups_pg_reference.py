"""What a PostgreSQL database holds at a restore point: row counts and content checksums per table.

The restore drill compares a restored cluster with this reference. The reference is taken on the
source in the same transaction that creates the restore point, with every table locked against
writes (SHARE mode lets reads continue), so what it reads is exactly what recovery to that point
must rebuild.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

# psql prints fields joined by this; table names never contain an ASCII unit separator.
_FIELD_SEPARATOR = "\x1f"
_TABLES_SQL = (
    "SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables"
    " WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1"
)


class DrillError(RuntimeError):
    """A drill step failed; the message says which and why."""


@dataclass(frozen=True)
class TableDigest:
    """Row count and an order-independent checksum of a table's rows."""

    rows: int
    checksum: str


@dataclass
class Reference:
    """The state of one database at a restore point."""

    name: str
    lsn: str
    time: str
    database: str
    user: str
    tables: dict[str, TableDigest] = field(default_factory=dict)

    def save(self, directory: Path) -> Path:
        """Write the reference as JSON to ``directory/<name>.json`` and return the path."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.json"
        path.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, directory: Path, name: str) -> Reference:
        """Read the reference that `shipyard ops restore-point` saved for *name*."""
        path = directory / f"{name}.json"
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            msg = (
                f"no reference for restore point {name!r} in {directory}"
                " (create points with `shipyard ops restore-point`)"
            )
            raise DrillError(msg) from None
        tables = {table: TableDigest(**digest) for table, digest in raw.pop("tables").items()}
        return cls(**raw, tables=tables)


def run_psql(
    psql: str, conninfo: str, sql: str, *, prefix: Sequence[str] = (), timeout: float = 600.0
) -> list[list[str]]:
    """Run *sql* with psql (stop at the first error) and return its rows as lists of fields."""
    result = subprocess.run(  # noqa: S603 - the operator's own psql; SQL is passed on stdin
        [*prefix, psql, "-X", "-q", "-A", "-t", "-F", _FIELD_SEPARATOR, "-v", "ON_ERROR_STOP=1", "-d", conninfo],
        input=sql,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    if result.returncode != 0:
        msg = f"psql failed (exit {result.returncode}): {result.stderr.strip()}"
        raise DrillError(msg)
    return [line.split(_FIELD_SEPARATOR) for line in result.stdout.splitlines() if line]


def sql_literal(text: str) -> str:
    """*text* as an SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def _digest_sql(tables: Sequence[str]) -> str:
    # md5 of each row's text form, sorted, then hashed again: independent of physical order,
    # which a restore does not preserve after VACUUM or HOT updates.
    parts = [
        f"SELECT 'table', {sql_literal(table)}, count(*)::text,"  # noqa: S608  # nosec B608 - identifiers quoted by quote_ident above
        f" coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') FROM {table} t"
        for table in tables
    ]
    return "\nUNION ALL\n".join(parts) + ";\n" if parts else ""


def digest_tables(psql: str, conninfo: str, *, prefix: Sequence[str] = ()) -> dict[str, TableDigest]:
    """Count and checksum every table of the database *conninfo* names (used on the restored cluster)."""
    tables = [row[0] for row in run_psql(psql, conninfo, _TABLES_SQL + ";", prefix=prefix)]
    rows = run_psql(psql, conninfo, _digest_sql(tables), prefix=prefix) if tables else []
    return {row[1]: TableDigest(rows=int(row[2]), checksum=row[3]) for row in rows}


def create_restore_point(psql: str, conninfo: str, name: str, *, prefix: Sequence[str] = ()) -> Reference:
    """Create restore point *name* on the source and return what the database holds at it.

    Every table is locked in SHARE mode for the duration (writers wait, readers do not), so no
    commit can land between the restore point and the checksums.
    """
    tables = [row[0] for row in run_psql(psql, conninfo, _TABLES_SQL + ";", prefix=prefix)]
    locks = "".join(f"LOCK TABLE {table} IN SHARE MODE;\n" for table in tables)
    sql = (
        "BEGIN ISOLATION LEVEL REPEATABLE READ;\n"
        + locks
        + f"SELECT 'point', pg_create_restore_point({sql_literal(name)})::text, clock_timestamp()::text,"
        " current_database(), current_user;\n" + _digest_sql(tables) + "COMMIT;\n"
    )
    rows = run_psql(psql, conninfo, sql, prefix=prefix)
    point = next(row for row in rows if row[0] == "point")
    reference = Reference(name=name, lsn=point[1], time=point[2], database=point[3], user=point[4])
    for row in rows:
        if row[0] == "table":
            reference.tables[row[1]] = TableDigest(rows=int(row[2]), checksum=row[3])
    return reference


def differences(expected: dict[str, TableDigest], actual: dict[str, TableDigest]) -> list[str]:
    """One line per table whose rows or content differ, or that exists on one side only."""
    lines = []
    for table in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(table), actual.get(table)
        if want is None:
            lines.append(f"{table}: present after restore, absent at the restore point")
        elif got is None:
            lines.append(f"{table}: missing after restore ({want.rows} rows expected)")
        elif want != got:
            lines.append(f"{table}: {got.rows} rows (checksum {got.checksum}), expected {want.rows} ({want.checksum})")
    return lines
