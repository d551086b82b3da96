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
    state = read_state(path)
    state[target] = {"last_success_unix": finished_unix, "size_bytes": float(size_bytes)}
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
        for target, entry in sorted(read_state(self.path).items()):
            if isinstance(entry.get("last_success_unix"), int | float):
                last.add_metric([target], float(entry["last_success_unix"]))
            if isinstance(entry.get("size_bytes"), int | float):
                size.add_metric([target], float(entry["size_bytes"]))
        yield last
        yield size
