"""kit/direct_reads.RowShape: a row type is checked against its model once, then rows are built by position."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest

from shipyard.customers import repository as customers
from shipyard.invoices import repository as invoices
from shipyard.kit.direct_reads import RowShape
from shipyard.models import Customer, CustomerRow, Invoice, InvoiceRow

pytestmark = pytest.mark.database_independent

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


class OutOfPlace(NamedTuple):
    organization_id: str
    id: str
    name: str
    email: str
    metadata_: dict[str, Any]
    archived_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


class WithExtraColumn(NamedTuple):
    id: str
    organization_id: str
    name: str
    email: str
    metadata_: dict[str, Any]
    archived_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
    phone: str


def test_rows_with_the_expected_columns_become_customer_rows() -> None:
    rows = customers._ROWS.build([ROW, {**ROW, "id": "cus_2"}])
    assert [row.id for row in rows] == ["cus_1", "cus_2"]
    assert rows[0] == CustomerRow(**ROW)


def test_a_column_out_of_place_fails_loudly_instead_of_shifting_values() -> None:
    with pytest.raises(TypeError, match="do not match OutOfPlace"):
        RowShape(OutOfPlace, Customer)


def test_an_extra_column_fails_loudly() -> None:
    with pytest.raises(TypeError, match="do not match WithExtraColumn"):
        RowShape(WithExtraColumn, Customer)


def test_a_row_type_for_another_model_fails_loudly() -> None:
    with pytest.raises(TypeError, match=r"Invoice columns .* do not match CustomerRow"):
        RowShape(CustomerRow, Invoice)


def test_no_rows_is_an_empty_list() -> None:
    assert customers._ROWS.build([]) == []


def test_both_domains_select_exactly_their_row_types_fields_in_order() -> None:
    assert [column.name for column in customers._ROWS.select().selected_columns] == list(CustomerRow._fields)
    assert [column.name for column in invoices._ROWS.select().selected_columns] == list(InvoiceRow._fields)
