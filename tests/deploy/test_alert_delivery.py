"""A real alert travels Prometheus → Alertmanager → email and webhook, with the deploy files' routing.

Prometheus runs the real `InstanceDown` rule (without its `for:` delay) against the real `shipyard-web`
scrape job, whose only target is a closed loopback port; Alertmanager runs the real routing tree with
its receivers pointed at a local SMTP sink and a local webhook receiver. Loopback only.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.monitoring_files import ALERTMANAGER_YML, MONITORING, PROMETHEUS_YML, load
from tests.fixtures.binaries import require_binary
from tests.fixtures.prometheus import daemon
from tests.fixtures.receiver import Receiver
from tests.fixtures.servers import LOOPBACK, free_port
from tests.fixtures.smtp import smtp_server, wait_for_messages

pytestmark = [pytest.mark.database_independent, pytest.mark.slow]
DEADLINE_S = 60.0


def _instance_down_rules() -> dict[str, Any]:
    """The real InstanceDown rule, firing at once, and a warning twin to exercise the other route."""
    rule = next(
        rule
        for group in load(MONITORING / "rules" / "infrastructure.yml")["groups"]
        for rule in group["rules"]
        if rule.get("alert") == "InstanceDown"
    )
    rule = {key: value for key, value in rule.items() if key != "for"}
    warning = {**rule, "alert": "InstanceDownWarning", "labels": {"severity": "warning"}}
    return {"groups": [{"name": "delivery-test", "rules": [rule, warning]}]}


def _prometheus_config(alertmanager_port: int, dead_port: int) -> dict[str, Any]:
    config = load(PROMETHEUS_YML)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = ["rules.yml"]
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [f"{LOOPBACK}:{alertmanager_port}"]}]
    (web,) = [job for job in config["scrape_configs"] if job["job_name"] == "shipyard-web"]
    web["static_configs"] = [{"targets": [f"{LOOPBACK}:{dead_port}"], "labels": {"role": "app"}}]
    config["scrape_configs"] = [web]
    return config


def _alertmanager_config(smtp_port: int, webhook_url: str) -> dict[str, Any]:
    config = load(ALERTMANAGER_YML)
    config["global"]["smtp_smarthost"] = f"{LOOPBACK}:{smtp_port}"
    # Only the timings shrink; the routing tree and receivers are the deploy file's.
    config["route"].update(group_wait="1s", group_interval="1s")
    for route in config["route"]["routes"]:
        route.pop("group_wait", None)
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
    return config


async def test_a_firing_alert_is_paged_to_the_webhook_and_mailed(tmp_path: Path) -> None:
    prometheus = require_binary("prometheus", "prometheus")
    alertmanager = require_binary("prometheus-alertmanager", "prometheus-alertmanager")
    prometheus_port, alertmanager_port, dead_port = free_port(), free_port(), free_port()
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(_instance_down_rules()))
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(_prometheus_config(alertmanager_port, dead_port)))
    started = time.monotonic()
    async with Receiver() as webhook:
        with smtp_server() as smtp:
            (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(_alertmanager_config(smtp.port, webhook.url)))
            am_argv = [
                alertmanager,
                f"--config.file={tmp_path / 'alertmanager.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address={LOOPBACK}:{alertmanager_port}",
                "--cluster.listen-address=",
            ]
            prom_argv = [
                prometheus,
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address={LOOPBACK}:{prometheus_port}",
            ]
            am_ready = f"http://{LOOPBACK}:{alertmanager_port}/-/ready"
            prom_ready = f"http://{LOOPBACK}:{prometheus_port}/-/ready"
            with (
                daemon(am_argv, tmp_path / "alertmanager.log", am_ready),
                daemon(prom_argv, tmp_path / "prometheus.log", prom_ready),
            ):
                page = (await webhook.wait_for(1, timeout=DEADLINE_S))[0]
                messages = await wait_for_messages(smtp, 2, timeout=DEADLINE_S - (time.monotonic() - started))
    payload = json.loads(page.body)
    assert page.path == "/hooks"
    assert payload["status"] == "firing"
    (alert,) = payload["alerts"]
    # The real relabelling named the host (the address without its port) and the role.
    assert alert["labels"] | {"instance": "-"} == {
        "alertname": "InstanceDown",
        "severity": "critical",
        "job": "shipyard-web",
        "instance": "-",
        "host": LOOPBACK,
        "role": "app",
        "cluster": "shipyard",
    }
    assert alert["annotations"]["runbook"] == "docs/operations/monitoring.md#instancedown"
    # Critical pages and mails on-call; the warning twin only mails ops.
    recipients = sorted((message["To"], message["Subject"]) for message in messages[:2])
    assert [to for to, _ in recipients] == ["oncall@shipyard.example.com", "ops@shipyard.example.com"]
    assert "InstanceDown" in recipients[0][1]
    assert "InstanceDownWarning" in recipients[1][1]
    paged = {
        alert["labels"]["alertname"] for request in webhook.requests for alert in json.loads(request.body)["alerts"]
    }
    assert paged == {"InstanceDown"}
    assert time.monotonic() - started < DEADLINE_S
