"""The bench's bulk rows (bench/bulk.py) and the scale phase's percentiles (bench/scale.py), without a database.

The scale phase pages from the middle of a tenant's rows with a cursor, and the API accepts only IDs
in new_id's format: the bulk IDs must keep that format and its order.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from shipyard.kit.ids import new_id
from shipyard.kit.pagination import cursor_pattern

BENCH = Path(__file__).resolve().parent.parent / "bench"
pytestmark = pytest.mark.database_independent


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, ModuleType]]:
    monkeypatch.syspath_prepend(str(BENCH))
    for name in ("bulk", "scale"):
        sys.modules.pop(name, None)
    import bulk  # bench/ is a script folder, importable once it is on the path
    import scale

    yield {"bulk": bulk, "scale": scale}
    for name in ("bulk", "scale"):
        sys.modules.pop(name, None)


def test_bulk_ids_are_cursors_of_their_list_and_sort_after_earlier_ids(bench: dict[str, ModuleType]) -> None:
    before = new_id("inv")
    middle: list[str] = []
    made = list(bench["bulk"]._ids("inv", 1001, middle))
    assert len(set(made)) == 1001
    assert made == sorted(made)
    assert before < made[0]
    assert middle == [made[500]]
    assert all(re.fullmatch(cursor_pattern("inv"), made_id) for made_id in made)


def test_invoice_rows_number_on_from_the_tenants_last_invoice(bench: dict[str, ModuleType]) -> None:
    bulk = bench["bulk"]
    rows = list(bulk._invoice_rows("org_1", ["cus_a", "cus_b"], iter(["inv_1", "inv_2", "inv_3"]), 3, 51, 7))
    numbers = [row[bulk.INVOICE_COLUMNS.index("number")] for row in rows]
    assert numbers == [51, 52, 53]
    for row in rows:
        status = row[bulk.INVOICE_COLUMNS.index("status")]
        paid_at = row[bulk.INVOICE_COLUMNS.index("paid_at")]
        assert (paid_at is not None) == (status == "paid")
        assert len(row) == len(bulk.INVOICE_COLUMNS)


def test_the_p95_of_30_timings_is_the_second_slowest(bench: dict[str, ModuleType]) -> None:
    timings = [float(n) for n in range(1, 31)]
    assert bench["scale"]._percentiles(timings) == {"p50_ms": 15.5, "p95_ms": 29.0, "samples": 30}
