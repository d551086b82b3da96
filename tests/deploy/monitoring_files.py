"""The monitoring files under deploy/monitoring/, parsed, and the alert-test coverage check promtool lacks."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "monitoring"
PROMETHEUS_YML = MONITORING / "prometheus.yml"
ALERTMANAGER_YML = MONITORING / "alertmanager.yml"
RULE_FILES = sorted((MONITORING / "rules").glob("*.yml"))
RULE_TEST_FILES = sorted((MONITORING / "tests").glob("*_test.yml"))
RUNBOOK = REPO / "docs" / "operations" / "monitoring.md"


def load(path: Path) -> Any:
    """A YAML file's document."""
    return yaml.safe_load(path.read_text())


def alerts(paths: list[Path] = RULE_FILES) -> list[dict[str, Any]]:
    """Every alerting rule in the rule files."""
    return [rule for path in paths for group in load(path)["groups"] for rule in group["rules"] if "alert" in rule]


@dataclass
class AlertTests:
    """Per alert name: whether a promtool test expects it to fire, and whether one expects it quiet."""

    fires: set[str] = field(default_factory=set)
    quiet: set[str] = field(default_factory=set)


def alert_tests(documents: list[dict[str, Any]]) -> AlertTests:
    """What the `alert_rule_test` cases of promtool test documents expect."""
    found = AlertTests()
    for document in documents:
        for case in document.get("tests", []):
            for check in case.get("alert_rule_test", []):
                (found.fires if check.get("exp_alerts") else found.quiet).add(check["alertname"])
    return found


def coverage_gaps(alert_names: set[str], tests: AlertTests) -> list[str]:
    """Alerts without a firing or a not-firing test, and tests of alerts that do not exist."""
    gaps = [f"{name}: no test where it fires" for name in sorted(alert_names - tests.fires)]
    gaps += [f"{name}: no test where it stays quiet" for name in sorted(alert_names - tests.quiet)]
    gaps += [f"{name}: tested but no such alert" for name in sorted((tests.fires | tests.quiet) - alert_names)]
    return gaps


def run(binary: str, *args: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    """Run a Prometheus tool and capture what it says."""
    return subprocess.run(  # noqa: S603 - a fixed binary found by require_binary, arguments from the tests
        [binary, *args], capture_output=True, text=True, check=False, timeout=120, cwd=cwd
    )
