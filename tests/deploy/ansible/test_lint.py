"""ansible-lint's production profile and ansible-playbook's syntax check accept every role and playbook."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.ansible.conftest import ANSIBLE_DIR, REPO, run

PLAYBOOKS = sorted(path.name for path in ANSIBLE_DIR.glob("*.yml"))


def test_ansible_lint_production_profile_passes() -> None:
    result = run(["ansible-lint", "--profile", "production", "--offline", "--nocolor", "."], timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Profile 'production' was required, and it passed" in result.stdout + result.stderr


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_playbook_syntax_is_valid_for_the_production_inventory(playbook: str) -> None:
    result = run(["ansible-playbook", "-i", "inventories/production", playbook, "--syntax-check"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_cluster_inventory_combines_with_the_harness_hosts(tmp_path: Path) -> None:
    # The harness writes its hosts (deploy/cluster/README.md); this inventory adds the settings.
    hosts = {
        "all": {
            "vars": {"management_address": "10.77.0.1"},
            "children": {group: {"hosts": {group: {"ansible_host": "10.77.0.9"}}} for group in _groups()},
        }
    }
    harness = tmp_path / "inventory.yml"
    harness.write_text(yaml.safe_dump(hosts))
    result = run(["ansible-playbook", "-i", "inventories/cluster", "-i", str(harness), "site.yml", "--syntax-check"])
    assert result.returncode == 0, result.stdout + result.stderr


def _groups() -> list[str]:
    inventory = yaml.safe_load((ANSIBLE_DIR / "inventories" / "production" / "hosts.yml").read_text())
    return sorted(inventory["all"]["children"])


def test_every_group_the_playbook_targets_is_in_the_production_inventory() -> None:
    plays = yaml.safe_load((ANSIBLE_DIR / "site.yml").read_text())
    targeted = {play["hosts"] for play in plays} - {"all"}
    assert targeted == set(_groups())


def _role_packages() -> set[str]:
    names: set[str] = set()
    for defaults in ANSIBLE_DIR.glob("roles/*/defaults/main.yml"):
        for key, value in (yaml.safe_load(defaults.read_text()) or {}).items():
            if key.endswith("_packages"):
                names.update(value)
    version = yaml.safe_load((ANSIBLE_DIR / "group_vars" / "all.yml").read_text())["shipyard_postgresql_version"]
    return {re.sub(r"\{\{ *shipyard_postgresql_version *\}\}", str(version), name) for name in names}


def test_every_package_a_role_installs_is_baked_into_the_cluster_root() -> None:
    # The containers have no internet: a package missing from the root fails the role's apt task.
    lines = (REPO / "deploy" / "cluster" / "packages.txt").read_text().splitlines()
    baked = {line.split("#")[0].strip() for line in lines} - {""}
    packages = _role_packages()
    assert "postgresql-15" in packages
    assert packages <= baked, sorted(packages - baked)
