"""The Grafana dashboards and provisioning files under deploy/monitoring/grafana/, and their generator."""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from types import ModuleType
from typing import Any

from tests.deploy.monitoring_files import MONITORING

GRAFANA = MONITORING / "grafana"
DASHBOARD_DIR = GRAFANA / "dashboards"
DATASOURCES_YML = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDERS_YML = GRAFANA / "provisioning" / "dashboards" / "shipyard.yml"
# What Grafana substitutes before a query reaches Prometheus, with values fit for a 1 s scrape interval.
GRAFANA_VARIABLES = {"$__rate_interval": "15s"}


@functools.cache
def generator() -> ModuleType:
    """deploy/monitoring/grafana/dashboards.py, imported from its path (deploy/ is not a package)."""
    spec = importlib.util.spec_from_file_location("grafana_dashboards", GRAFANA / "dashboards.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def committed_dashboards() -> dict[str, dict[str, Any]]:
    """Each committed dashboard file's name and JSON model."""
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARD_DIR.glob("*.json"))}


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, PromQL as Prometheus receives it) for every query of every panel."""
    found = []
    for board in committed_dashboards().values():
        for panel in board["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                found.append((board["uid"], panel["title"], expr))
    return found
