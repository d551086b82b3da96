"""The backup state record: the last successful backup per target, read by `/metrics` in every process."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

STATE_FILE = "backup-state.json"


def state_path(data_dir: Path) -> Path:
    """Where the record lives: the data directory, which every process on the host shares."""
    return data_dir / STATE_FILE


def read_state(path: Path) -> dict[str, dict[str, float]]:
    """Target → {"last_success_unix": ..., "size_bytes": ...}; empty when nothing was recorded (or unreadable)."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(loaded, dict):
        return {}
    return {str(target): entry for target, entry in loaded.items() if isinstance(entry, dict)}


def record_success(path: Path, target: str, *, finished_unix: float, size_bytes: int) -> None:
    """Record a successful backup of `target`, replacing the file in one rename."""
    _update(path, target, {"last_success_unix": finished_unix, "size_bytes": float(size_bytes)})


def record_drill_success(path: Path, target: str, *, finished_unix: float) -> None:
    """Record a restore drill of `target` that passed (the backup's own time stays as it was)."""
    _update(path, target, {"last_drill_success_unix": finished_unix})


def _update(path: Path, target: str, values: dict[str, float]) -> None:
    """Merge `values` into the target's entry, keeping its other fields, and replace the file in one rename."""
    state = read_state(path)
    state[target] = {**state.get(target, {}), **values}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    partial.write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
    partial.replace(path)


class BackupStateCollector(Collector):
    """Gauges read from the state record at each scrape, so every web process reports the same values."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The last successful backup's time and size per target."""
        last = GaugeMetricFamily(
            "shipyard_backup_last_success_timestamp_seconds",
            "Unix time of the last successful backup, per target.",
            labels=["target"],
        )
        size = GaugeMetricFamily(
            "shipyard_backup_last_size_bytes", "Size of the last successful backup, per target.", labels=["target"]
        )
        drill = GaugeMetricFamily(
            "shipyard_backup_last_drill_success_timestamp_seconds",
            "Unix time of the last restore drill that passed, per target.",
            labels=["target"],
        )
        for target, entry in sorted(read_state(self.path).items()):
            for gauge, key in ((last, "last_success_unix"), (size, "size_bytes"), (drill, "last_drill_success_unix")):
                if isinstance(entry.get(key), int | float):
                    gauge.add_metric([target], float(entry[key]))
        yield last
        yield size
        yield drill
