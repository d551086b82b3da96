"""customers.repository's rows: built by position only after their column names were checked."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from shipyard.customers import repository
from shipyard.customers.repository import CustomerRow

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ROW: dict[str, Any] = {
    "id": "cus_1",
    "organization_id": "org_1",
    "name": "Ada",
    "email": "ada@example.com",
    "metadata_": {"tier": "gold"},
    "archived_at": None,
    "version": 1,
    "created_at": NOW,
    "updated_at": NOW,
}


def test_rows_with_the_expected_columns_become_customer_rows() -> None:
    rows = repository._customer_rows([ROW, {**ROW, "id": "cus_2"}])
    assert [row.id for row in rows] == ["cus_1", "cus_2"]
    assert rows[0] == CustomerRow(**ROW)


def test_a_column_out_of_place_fails_loudly_instead_of_shifting_values() -> None:
    reordered = {"organization_id": ROW["organization_id"], **ROW}
    with pytest.raises(RuntimeError, match="do not match CustomerRow"):
        repository._customer_rows([reordered])


def test_an_extra_column_fails_loudly() -> None:
    with pytest.raises(RuntimeError, match="do not match CustomerRow"):
        repository._customer_rows([{**ROW, "phone": "+44"}])


def test_no_rows_is_an_empty_list() -> None:
    assert repository._customer_rows([]) == []
