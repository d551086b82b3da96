"""Values on their way from SQLite to PostgreSQL, and the checksum computed the same way on both sides.

SQLite stores whatever it is given. Shipyard's own writes are regular (ISO timestamps with microseconds,
0/1 booleans, JSON text), but rows written by hand or by an older tool may hold the shapes general
tools trip over: timestamps without fractions (SQLite's CURRENT_TIMESTAMP), Unix epoch numbers, 0/1
and 'true'/'false' booleans, numbers in text columns. `to_postgres` reads each by the column's type in
Shipyard's models, never by the value's looks, and refuses what it cannot read rather than guess.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Integer, LargeBinary, Numeric, String

from shipyard.backup.age_keys import BackupError

# A number above this in a timestamp column is in milliseconds (1e11 s is the year 5138).
_EPOCH_MILLISECONDS = 100_000_000_000
_MODULUS = 2**256
_TRUE = {"1", "true", "t", "yes"}
_FALSE = {"0", "false", "f", "no"}


# Checked in this order: the first match names the kind (Boolean and Date before their relatives).
_KINDS: tuple[tuple[type[Any], str], ...] = (
    (DateTime, "datetime"),
    (Date, "date"),
    (Boolean, "boolean"),
    (JSON, "json"),
    (LargeBinary, "bytes"),
    (Integer, "integer"),
    (Numeric, "decimal"),
    (String, "text"),
)


def kind(column: Column[Any]) -> str:
    """The column's kind: datetime, date, boolean, json, bytes, integer, decimal or text."""
    # A TypeDecorator (UTCDateTime) is read by what it decorates.
    for candidate in (column.type, getattr(column.type, "impl", column.type)):
        for sql_type, name in _KINDS:
            if isinstance(candidate, sql_type):
                return name
    return "text"


def to_postgres(column_kind: str, value: Any, where: str) -> Any:  # noqa: ANN401, PLR0911 - one branch per kind
    """The Python value asyncpg's binary COPY writes for a raw SQLite `value` (JSON as text)."""
    if value is None:
        return None
    try:
        match column_kind:
            case "datetime":
                return _datetime(value)
            case "date":
                return (
                    _datetime(value).date() if isinstance(value, int | float) else date.fromisoformat(str(value)[:10])
                )
            case "boolean":
                return _boolean(value)
            case "json":
                return json.dumps(json.loads(value) if isinstance(value, str | bytes) else value, ensure_ascii=False)
            case "bytes":
                return bytes(value) if isinstance(value, bytes | bytearray | memoryview) else str(value).encode()
            case "integer":
                return int(value)
            case "decimal":
                return Decimal(str(value))
            case _:
                return value if isinstance(value, str) else str(value)
    except (ValueError, TypeError) as exc:
        raise BackupError(f"{where}: cannot read {value!r} as {column_kind} ({exc})") from None


def _datetime(value: Any) -> datetime:  # noqa: ANN401 - whatever SQLite holds
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) >= _EPOCH_MILLISECONDS else value
        return datetime.fromtimestamp(seconds, UTC)
    text = str(value).strip()
    if text.isdigit():
        return _datetime(int(text))
    parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    # SQLite keeps no zone: a naive value was written as UTC (UTCDateTime, or CURRENT_TIMESTAMP).
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _boolean(value: Any) -> bool:  # noqa: ANN401 - whatever SQLite holds
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("not a boolean")


def canonical(column_kind: str, value: Any) -> str:  # noqa: ANN401, PLR0911 - one branch per kind
    """One text form per value, whichever database it was read from (the checksum's input)."""
    if value is None:
        return "\\N"
    match column_kind:
        case "datetime":
            return value.astimezone(UTC).isoformat(timespec="microseconds")  # type: ignore[no-any-return]
        case "date":
            return value.isoformat()  # type: ignore[no-any-return]
        case "boolean":
            return "t" if value else "f"
        case "json":
            loaded = json.loads(value) if isinstance(value, str | bytes) else value
            return json.dumps(loaded, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        case "bytes":
            return bytes(value).hex()
        case "decimal":
            return str(Decimal(value).normalize())
        case _:
            return str(value)


@dataclass
class TableChecksum:
    """Row count and an order-independent digest of a table's rows (the databases sort text differently)."""

    rows: int = 0
    total: int = 0

    def add(self, kinds: list[str], row: tuple[Any, ...] | list[Any]) -> None:
        """Count one row and fold its digest in."""
        text = "\x1f".join(canonical(k, v) for k, v in zip(kinds, row, strict=True))
        self.rows += 1
        self.total = (self.total + int.from_bytes(hashlib.sha256(text.encode()).digest())) % _MODULUS
