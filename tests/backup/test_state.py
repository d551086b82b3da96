"""The backup state record that `/metrics` reads in every process."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shipyard.backup.state import BackupStateCollector, record_drill_success, record_success


def _samples(path: Path) -> dict[tuple[str, str], float]:
    registry = CollectorRegistry()
    registry.register(BackupStateCollector(path))
    text = generate_latest(registry).decode()
    return {
        (sample.name, sample.labels["target"]): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_a_backup_after_a_drill_keeps_the_drill_time_of_the_same_target(tmp_path: Path) -> None:
    path = tmp_path / "backup-state.json"
    record_drill_success(path, "pgbackrest-repo1", finished_unix=100.0)
    record_success(path, "pgbackrest-repo1", finished_unix=200.0, size_bytes=5)
    record_success(path, "pgbackrest-repo2", finished_unix=300.0, size_bytes=7)

    assert _samples(path) == {
        ("shipyard_backup_last_success_timestamp_seconds", "pgbackrest-repo1"): 200.0,
        ("shipyard_backup_last_success_timestamp_seconds", "pgbackrest-repo2"): 300.0,
        ("shipyard_backup_last_size_bytes", "pgbackrest-repo1"): 5.0,
        ("shipyard_backup_last_size_bytes", "pgbackrest-repo2"): 7.0,
        ("shipyard_backup_last_drill_success_timestamp_seconds", "pgbackrest-repo1"): 100.0,
    }
