"""The Grafana dashboards: generated, structurally valid for schema 39, wired to the provisioned data source.

That every panel's query parses and returns data is proven against a live Prometheus in
test_dashboards_live.py.
"""

from __future__ import annotations

import re

import pytest

from shipyard.kit.metrics import HttpMetrics
from shipyard.worker.metrics import JobMetrics
from tests.deploy.grafana_files import (
    DASHBOARD_PROVIDERS_YML,
    DATASOURCES_YML,
    committed_dashboards,
    generator,
    panel_queries,
)
from tests.deploy.monitoring_files import load

pytestmark = pytest.mark.database_independent

ASKED_FOR = {
    "shipyard-red",
    "shipyard-hosts",
    "shipyard-postgres",
    "shipyard-cache",
    "shipyard-sign-in",
    "shipyard-queues",
}
GRID_COLUMNS = 24
# Metrics other programs export: the node, PostgreSQL and Redis exporters.
EXPORTER_PREFIXES = ("node_", "pg_", "redis_")
PROMQL_WORDS = {"sum", "by", "rate", "increase", "histogram_quantile", "max", "avg", "count", "or", "vector", "le"}


def test_the_committed_json_is_the_generators_output() -> None:
    expected = generator().rendered()
    assert sorted(committed_dashboards()) == sorted(expected), "run: python deploy/monitoring/grafana/dashboards.py"
    for name, text in expected.items():
        assert (generator().OUT / name).read_text() == text, f"{name} is stale: run the generator"


def test_every_dashboard_asked_for_exists_with_schema_39_fields() -> None:
    boards = committed_dashboards()
    assert {board["uid"] for board in boards.values()} == ASKED_FOR
    for name, board in boards.items():
        assert name == f"{board['uid']}.json"
        assert board["schemaVersion"] == 39
        assert isinstance(board["title"], str)
        assert board["title"]
        assert isinstance(board["version"], int)
        assert isinstance(board["editable"], bool)
        assert set(board["time"]) == {"from", "to"}
        assert isinstance(board["templating"]["list"], list)
        assert isinstance(board["annotations"]["list"], list)
        assert board["panels"]
        ids = [panel["id"] for panel in board["panels"]]
        assert len(set(ids)) == len(ids), name
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            assert panel["type"] == "timeseries"
            assert panel["title"]
            assert panel["description"]
            grid = panel["gridPos"]
            assert all(isinstance(grid[key], int) and grid[key] >= 0 for key in ("h", "w", "x", "y"))
            assert grid["w"] > 0
            assert grid["h"] > 0
            assert grid["x"] + grid["w"] <= GRID_COLUMNS
            area = {
                (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not area & cells, f"{name}: {panel['title']} overlaps another panel"
            cells |= area
            ref_ids = [target["refId"] for target in panel["targets"]]
            assert ref_ids
            assert len(set(ref_ids)) == len(ref_ids)
            assert all(target["expr"].strip() for target in panel["targets"])


def test_every_panel_uses_the_provisioned_prometheus_data_source() -> None:
    (source,) = load(DATASOURCES_YML)["datasources"]
    assert source["type"] == "prometheus"
    wanted = {"type": source["type"], "uid": source["uid"]}
    for board in committed_dashboards().values():
        for panel in board["panels"]:
            assert panel["datasource"] == wanted
            assert all(target["datasource"] == wanted for target in panel["targets"])
    (provider,) = load(DASHBOARD_PROVIDERS_YML)["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"]
    assert provider["allowUiUpdates"] is False


def test_the_panels_use_only_metrics_the_app_or_the_exporters_export() -> None:
    http = HttpMetrics("test")
    exported = {metric.name for metric in JobMetrics(http.registry).registry.collect()}
    suffixes = ("_total", "_bucket", "_count", "_sum")
    unknown = set()
    for _, _, expr in panel_queries():
        without_strings = re.sub(r'"[^"]*"', "", expr)
        without_labels = re.sub(r"\{[^}]*\}|\([a-z_, ]*\)\s*\(|\[[^\]]*\]", " (", without_strings)
        for name in re.findall(r"\b[a-z_][a-z0-9_]*\b", without_labels):
            if name in PROMQL_WORDS or name.startswith(EXPORTER_PREFIXES):
                continue
            if name in exported or any(name.endswith(s) and name.removesuffix(s) in exported for s in suffixes):
                continue
            unknown.add(name)
    assert unknown == set()
