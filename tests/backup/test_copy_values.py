"""Reading SQLite's raw values by column type: the shapes general-purpose tools get wrong."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from shipyard.backup.age_keys import BackupError
from shipyard.backup.copy_values import TableChecksum, kind, to_postgres
from shipyard.models import AuditEvent, Customer, IdempotencyKey, Invoice, Organization


def test_column_kinds_follow_the_models() -> None:
    columns = Customer.__table__.columns
    assert kind(columns["created_at"]) == "datetime"
    assert kind(columns["metadata"]) == "json"
    assert kind(Invoice.__table__.columns["due_date"]) == "date"
    assert kind(Invoice.__table__.columns["total"]) == "integer"
    assert kind(IdempotencyKey.__table__.columns["completed"]) == "boolean"
    assert kind(IdempotencyKey.__table__.columns["response_body"]) == "bytes"
    assert kind(Organization.__table__.columns["name"]) == "text"
    assert kind(AuditEvent.__table__.columns["details"]) == "json"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-12-06 01:02:03.456789", datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC)),  # UTCDateTime's form
        ("2026-12-06 01:02:03", datetime(2026, 12, 6, 1, 2, 3, tzinfo=UTC)),  # CURRENT_TIMESTAMP, no fraction
        ("2026-12-06T02:02:03+01:00", datetime(2026, 12, 6, 1, 2, 3, tzinfo=UTC)),  # an offset is honoured
        (1_700_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),  # epoch seconds
        (1_700_000_000.5, datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
        (1_700_000_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),  # epoch milliseconds
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),  # epoch as text
    ],
)
def test_timestamps_in_every_shape_sqlite_may_hold(raw: object, expected: datetime) -> None:
    assert to_postgres("datetime", raw, "t.c") == expected


@pytest.mark.parametrize(("raw", "expected"), [(0, False), (1, True), ("1", True), ("false", False), ("TRUE", True)])
def test_booleans_stored_as_numbers_or_words(raw: object, expected: bool) -> None:
    assert to_postgres("boolean", raw, "t.c") is expected


def test_json_text_keeps_unicode_and_nesting() -> None:
    raw = json.dumps({"a": [{"b": "שלום 🚢"}], "c": None}, ensure_ascii=True)
    assert json.loads(to_postgres("json", raw, "t.c")) == {"a": [{"b": "שלום 🚢"}], "c": None}


def test_other_kinds() -> None:
    assert to_postgres("date", "2026-01-31", "t.c") == date(2026, 1, 31)
    assert to_postgres("integer", 999_999_999_999_999, "t.c") == 999_999_999_999_999
    assert to_postgres("text", "", "t.c") == ""
    assert to_postgres("text", 42, "t.c") == "42"  # a number that SQLite let into a text column
    assert to_postgres("bytes", b"\x00\xff", "t.c") == b"\x00\xff"
    assert to_postgres("datetime", None, "t.c") is None


def test_an_unreadable_value_is_refused_with_its_place() -> None:
    with pytest.raises(BackupError, match=r"customers.created_at of row 'cus_1': cannot read 'soon' as datetime"):
        to_postgres("datetime", "soon", "customers.created_at of row 'cus_1'")
    with pytest.raises(BackupError, match="as boolean"):
        to_postgres("boolean", 2, "t.c")


def test_the_checksum_ignores_row_order_and_sees_any_change() -> None:
    kinds = ["text", "datetime", "json"]
    first = ("a", datetime(2026, 1, 1, tzinfo=UTC), '{"x": 1, "y": [1, 2]}')
    second = ("b", datetime(2026, 1, 2, tzinfo=UTC), '{"y": [1, 2], "x": 1}')
    one, other, changed = TableChecksum(), TableChecksum(), TableChecksum()
    for row in (first, second):
        one.add(kinds, row)
    for row in (second, first):
        other.add(kinds, row)
    changed.add(kinds, first)
    changed.add(kinds, ("b", datetime(2026, 1, 2, 0, 0, 0, 1, tzinfo=UTC), '{"y": [1, 2], "x": 1}'))
    assert one == other
    assert one != changed
    assert one.rows == changed.rows == 2
