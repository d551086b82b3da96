"""The restore drill's reference: saved and loaded intact, and every kind of difference reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.ops.backups_pg_reference import DrillError, Reference, TableDigest, differences


def test_a_reference_reads_back_as_saved(tmp_path: Path) -> None:
    reference = Reference(
        name="before-upgrade", lsn="0/B1CB338", time="2026-12-06 01:15:12+00", database="shipyard", user="postgres"
    )
    reference.tables["public.invoices"] = TableDigest(rows=3, checksum="abc")
    reference.save(tmp_path)
    assert Reference.load(tmp_path, "before-upgrade") == reference


def test_a_missing_reference_names_the_command_that_makes_one(tmp_path: Path) -> None:
    with pytest.raises(DrillError, match="shipyard ops restore-point"):
        Reference.load(tmp_path, "never-made")


def test_differences_name_each_table_that_differs_or_exists_on_one_side() -> None:
    expected = {"a": TableDigest(1, "x"), "b": TableDigest(2, "y"), "c": TableDigest(3, "z")}
    actual = {"a": TableDigest(1, "x"), "b": TableDigest(2, "other"), "d": TableDigest(0, "")}
    lines = differences(expected, actual)
    assert [line.split(":")[0] for line in lines] == ["b", "c", "d"]
    assert "missing after restore" in lines[1]
    assert "absent at the restore point" in lines[2]
    assert differences(expected, dict(expected)) == []
