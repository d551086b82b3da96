"""deploy.yml's order and the edge it relies on: what the cluster's rolling-deploy tests run, checked fast.

tests/deploy/cluster/test_rolling_deploy.py proves the deploy under load; these catch, without a
cluster, a change to one side of an agreement the deploy depends on (the edge's probe, the drain
marker, the order of the plays).
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from shipyard.kit.draining import marker
from tests.deploy.ansible.conftest import ANSIBLE_DIR, REPO, run

APP_DEFAULTS = yaml.safe_load((ANSIBLE_DIR / "roles" / "app" / "defaults" / "main.yml").read_text())


def _app_proxy_block() -> str:
    """The reverse_proxy block of Caddyfile.multi that load-balances the app hosts."""
    caddyfile = (REPO / "deploy" / "caddy" / "Caddyfile.multi").read_text()
    match = re.search(r"reverse_proxy \{\$SHIPYARD_APP_UPSTREAMS\} \{(.*?)\n\t\t\}", caddyfile, re.DOTALL)
    assert match, "Caddyfile.multi has no reverse_proxy to {$SHIPYARD_APP_UPSTREAMS}"
    return match[1]


def test_the_edge_probes_ready_as_often_as_the_deploy_waits_for() -> None:
    block = _app_proxy_block()
    assert re.search(r"^\s*health_uri /ready$", block, re.MULTILINE)
    interval = re.search(r"^\s*health_interval (\d+)s$", block, re.MULTILINE)
    assert interval, block
    assert int(interval[1]) == APP_DEFAULTS["app_edge_health_interval_s"]


def test_the_drain_marker_is_the_one_the_apps_ready_reads() -> None:
    unit = (REPO / "deploy" / "systemd" / "shipyard-web.service").read_text()
    data_dir = re.search(r"^Environment=SHIPYARD_DATA_DIR=(\S+)$", unit, re.MULTILINE)
    assert data_dir, "the web unit sets no SHIPYARD_DATA_DIR"
    assert APP_DEFAULTS["app_drain_marker"] == str(marker(Path(data_dir[1])))


def test_deploy_installs_then_migrates_then_rolls_one_host_at_a_time() -> None:
    plays = yaml.safe_load((ANSIBLE_DIR / "deploy.yml").read_text())
    assert [play["tags"] for play in plays] == [["install"], ["migrate"], ["roll"]]
    assert all(play["hosts"] == "app" for play in plays)
    assert "serial" not in plays[0]
    assert "serial" not in plays[1]
    assert plays[2]["serial"] == 1
    assert plays[2]["max_fail_percentage"] == 0
    # Any failure while installing or migrating stops every host before the roll.
    assert plays[0]["any_errors_fatal"] is True
    assert plays[1]["any_errors_fatal"] is True


def test_each_host_is_drained_before_it_switches_and_readmitted_after_ready() -> None:
    listed = run(["ansible-playbook", "-i", "inventories/production", "deploy.yml", "--list-tasks"])
    assert listed.returncode == 0, listed.stdout + listed.stderr
    tasks = [line.split("\t")[0].strip().removeprefix("app : ") for line in listed.stdout.splitlines() if "\t" in line]
    order = [
        "Migrate with the new release and the DDL role, once per deploy",
        "Drain the host, so its /ready answers 503 and the edge takes it out",
        "Wait until the edge has no request in flight to this host",
        "Point current at the release",
        "Restart the web, the worker and, on the first host, the scheduler",
        "Undrain the host (the marker survives a restart)",
        "Wait until the new release is ready, as the edge asks it",
        "Remember the release to roll back to",
        "Let the edge's health check see the host ready before the next host drains",
    ]
    assert [task for task in tasks if task in order] == order
