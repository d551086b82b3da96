"""Prometheus and Alertmanager files: promtool and amtool accept them, every alert is tested both ways."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shipyard.backup.state import BackupStateCollector
from shipyard.kit.metrics import HttpMetrics
from shipyard.worker.metrics import JobMetrics
from tests.deploy.monitoring_files import (
    ALERTMANAGER_YML,
    PROMETHEUS_YML,
    RULE_FILES,
    RULE_TEST_FILES,
    RUNBOOK,
    AlertTests,
    alert_tests,
    alerts,
    coverage_gaps,
    load,
    run,
)
from tests.fixtures.binaries import require_binary

pytestmark = pytest.mark.database_independent

SCRAPED_JOBS = {"shipyard-web", "shipyard-worker", "caddy", "node", "postgres", "redis", "pgbouncer", "blackbox"}
PROBES = {"public", "health", "ready", "login"}
SEVERITIES = {"critical", "warning", "info"}


def test_promtool_accepts_the_configuration_and_its_rule_files() -> None:
    promtool = require_binary("promtool", "prometheus")
    result = run(promtool, "check", "config", str(PROMETHEUS_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(f"rules/{path.name}" in result.stdout + result.stderr for path in RULE_FILES)
    result = run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    promtool = require_binary("promtool", "prometheus")
    assert RULE_TEST_FILES
    result = run(promtool, "test", "rules", *map(str, RULE_TEST_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_test() -> None:
    names = {rule["alert"] for rule in alerts()}
    assert len(names) == len(alerts()), "alert names are unique"
    assert coverage_gaps(names, alert_tests([load(path) for path in RULE_TEST_FILES])) == []


def test_the_coverage_check_reports_each_kind_of_gap() -> None:
    tests = AlertTests(fires={"Both", "OnlyFires", "Ghost"}, quiet={"Both", "OnlyQuiet"})
    assert coverage_gaps({"Both", "OnlyFires", "OnlyQuiet", "Untested"}, tests) == [
        "OnlyQuiet: no test where it fires",
        "Untested: no test where it fires",
        "OnlyFires: no test where it stays quiet",
        "Untested: no test where it stays quiet",
        "Ghost: tested but no such alert",
    ]
    document = {
        "tests": [
            {"alert_rule_test": [{"alertname": "A", "exp_alerts": [{"exp_labels": {}}]}, {"alertname": "B"}]},
            {"alert_rule_test": [{"alertname": "A", "exp_alerts": []}]},
        ]
    }
    assert alert_tests([document]) == AlertTests(fires={"A"}, quiet={"A", "B"})


def test_every_alert_has_a_severity_summary_description_and_a_runbook_section() -> None:
    anchors = {
        re.sub(r"[^a-z0-9-]", "", heading.strip().lower().replace(" ", "-"))
        for heading in re.findall(r"^#{2,4} (.+)$", RUNBOOK.read_text(), re.MULTILINE)
    }
    for rule in alerts():
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert annotations.get("summary"), name
        assert annotations.get("description"), name
        assert annotations["runbook"] == f"docs/operations/monitoring.md#{name.lower()}", name
        assert name.lower() in anchors, f"{name} has no section in {RUNBOOK.name}"


def test_the_alerts_use_only_metrics_the_app_exports() -> None:
    # The backup gauges come from the collector the app registers (it reads the shared state record).
    http = HttpMetrics("test", collectors=[BackupStateCollector(Path("/nonexistent/backup-state.json"))])
    exported = {metric.name for metric in JobMetrics(http.registry).registry.collect()}
    suffixes = ("_total", "_bucket", "_count", "_sum")
    used = {
        name
        for path in RULE_FILES
        for name in re.findall(r"(?<![:\w])((?:shipyard|http)_[a-z_]+)\b", path.read_text())
        if not name.startswith("http_request_duration_seconds") or name.endswith(suffixes)
    }
    unknown = {
        name
        for name in used
        if name not in exported and not any(name.endswith(s) and name.removesuffix(s) in exported for s in suffixes)
    }
    assert unknown == set()


def test_prometheus_scrapes_every_role_and_names_host_and_role() -> None:
    config = load(PROMETHEUS_YML)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == SCRAPED_JOBS
    for name, job in jobs.items():
        relabel_targets = {rule.get("target_label") for rule in job.get("relabel_configs", [])}
        assert "host" in relabel_targets, name
        static_roles = [group.get("labels", {}).get("role") for group in job["static_configs"]]
        assert all(static_roles) or "role" in relabel_targets, name
    probes = {group["labels"]["probe"] for group in jobs["blackbox"]["static_configs"]}
    assert probes == PROBES
    assert any(
        target.startswith("https://") for group in jobs["blackbox"]["static_configs"] for target in group["targets"]
    )


def test_amtool_accepts_the_alertmanager_configuration() -> None:
    amtool = require_binary("amtool", "prometheus-alertmanager")
    result = run(amtool, "check-config", str(ALERTMANAGER_YML))
    assert result.returncode == 0, result.stdout + result.stderr
    routes = {tuple(route["matchers"]): route["receiver"] for route in load(ALERTMANAGER_YML)["route"]["routes"]}
    receivers = {receiver["name"]: receiver for receiver in load(ALERTMANAGER_YML)["receivers"]}
    page = receivers[routes[('severity="critical"',)]]
    assert page.get("webhook_configs")
    assert page.get("email_configs")
    assert receivers[routes[('severity="warning"',)]].get("email_configs")
