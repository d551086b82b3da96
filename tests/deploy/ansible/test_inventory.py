"""Adding an app host is one inventory line: the edge, pg_hba.conf and the firewalls follow the groups."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.deploy.ansible.conftest import ANSIBLE_DIR, ansible_env, run

EDGE, APP1, APP2, DB, CACHE, IDENTITY = "10.0.0.10", "10.0.1.11", "10.0.1.12", "10.0.3.10", "10.0.3.20", "10.0.2.10"


def _render(inventory_dir: Path, out: Path) -> dict[str, dict[str, str]]:
    result = run(
        [
            "ansible-playbook",
            "-i",
            str(inventory_dir),
            "-e",
            f"@{ANSIBLE_DIR / 'group_vars' / 'all.yml'}",
            "-e",
            f"out={out} shipyard_deploy_files={ANSIBLE_DIR.parent}",
            str(Path(__file__).parent / "render.yml"),
        ],
        env=ansible_env(tmp=str(out)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return {host.name: {f.name: f.read_text() for f in host.iterdir()} for host in out.iterdir()}


def _with_second_app_host(tmp_path: Path) -> Path:
    inventory = tmp_path / "inventory"
    shutil.copytree(ANSIBLE_DIR / "inventories" / "production", inventory)
    hosts = inventory / "hosts.yml"
    lines = hosts.read_text().splitlines()
    # The one line (plus its address) an operator adds under app:
    at = lines.index("        app1:")
    lines[at:at] = ["        app2: {ansible_host: 203.0.113.22, private_address: 10.0.1.12}"]
    hosts.write_text("\n".join(lines) + "\n")
    return inventory


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    tmp_path = tmp_path_factory.mktemp("ansible-render")
    out = tmp_path / "out"
    out.mkdir()
    return _render(_with_second_app_host(tmp_path), out)


def _rules(rendered: dict[str, dict[str, str]], host: str) -> set[tuple[str, str, str]]:
    rules = yaml.safe_load(rendered[host]["firewall.yml"]) or []
    return {(str(rule["port"]), rule["proto"], rule["from"]) for rule in rules}


def test_the_edge_balances_over_every_app_host(rendered: dict[str, dict[str, str]]) -> None:
    assert f'SHIPYARD_APP_UPSTREAMS="{APP2}:8000 {APP1}:8000"' in rendered["edge1"]["caddy.env"]
    assert f"SHIPYARD_AUTHENTIK_UPSTREAM={IDENTITY}:9000" in rendered["edge1"]["caddy.env"]
    assert f"SHIPYARD_MCP_UPSTREAM={IDENTITY}:8765" in rendered["edge1"]["caddy.env"]


def test_postgresql_accepts_each_app_host_over_tls_only(rendered: dict[str, dict[str, str]]) -> None:
    hba = [line.split() for line in rendered["db1"]["pg_hba.conf"].splitlines() if line and not line.startswith("#")]
    network = [line for line in hba if line[0] in {"host", "hostssl"} and not line[3].startswith(("127.", "::1"))]
    assert network == [
        ["hostssl", "shipyard", "shipyard_app", f"{APP2}/32", "scram-sha-256"],
        ["hostssl", "shipyard", "shipyard_migrator", f"{APP2}/32", "scram-sha-256"],
        ["hostssl", "shipyard", "shipyard_app", f"{APP1}/32", "scram-sha-256"],
        ["hostssl", "shipyard", "shipyard_migrator", f"{APP1}/32", "scram-sha-256"],
        ["hostssl", "shipyard", "shipyard_mcp", f"{IDENTITY}/32", "scram-sha-256"],
        ["host", "all", "all", "0.0.0.0/0", "reject"],
        ["host", "all", "all", "::/0", "reject"],
    ]


def test_each_host_opens_exactly_the_architectures_ports(rendered: dict[str, dict[str, str]]) -> None:
    assert _rules(rendered, "edge1") == {("80", "tcp", "any"), ("443", "tcp", "any"), ("443", "udp", "any")}
    assert _rules(rendered, "app1") == _rules(rendered, "app2") == {("8000", "tcp", EDGE)}
    assert _rules(rendered, "db1") == {("5432", "tcp", APP1), ("5432", "tcp", APP2), ("5432", "tcp", IDENTITY)}
    assert _rules(rendered, "cache1") == {("6379", "tcp", APP1), ("6379", "tcp", APP2)}
    assert _rules(rendered, "identity1") == {("9000", "tcp", EDGE), ("8765", "tcp", EDGE)}
