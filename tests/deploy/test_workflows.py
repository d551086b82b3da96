"""The GitHub workflows: GitHub's schema, zizmor's audits, and the pipeline's own rules.

The workflows cannot run here (no GitHub runner); `.ci/run` stays the local truth. These tests
check what can be checked offline, with linters pinned in the lockfile: check-jsonschema with its
vendored workflow schema, and zizmor --offline.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GITHUB = REPO / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
# `owner/repo[/path]@<40 hex> # v1.2.3`: a full commit SHA, and the release it is, for the reader
# and for Dependabot. A tag or branch can be moved by whoever controls the action's repository.
PINNED_USES = re.compile(r"^\s*(?:-\s+)?uses:\s+([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+\.\d+\.\d+\s*$")
LOCAL_USES = re.compile(r"^\s*(?:-\s+)?uses:\s+\./")

pytestmark = pytest.mark.database_independent


def _run(*command: str) -> tuple[int, str]:
    result = subprocess.run(  # noqa: S603 - the pinned linters on files of ours
        list(command), capture_output=True, text=True, check=False, timeout=120, cwd=REPO
    )
    return result.returncode, result.stdout + result.stderr


def _schema_check(*paths: Path, schema: str = "vendor.github-workflows") -> tuple[int, str]:
    # --builtin-schema: the schema vendored in the wheel, so nothing is downloaded.
    return _run(str(BIN / "check-jsonschema"), "--builtin-schema", schema, *map(str, paths))


def _zizmor(*paths: Path) -> tuple[int, str]:
    return _run(str(BIN / "zizmor"), "--offline", "--no-progress", *map(str, paths))


def _load(path: Path) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return loaded


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _run_text(workflow: dict[Any, Any]) -> str:
    return "\n".join(step.get("run", "") for step in _steps(workflow))


def test_the_two_workflows_exist() -> None:
    assert [path.name for path in WORKFLOWS] == ["ci.yml", "deploy.yml"]


def test_the_workflows_match_githubs_schema() -> None:
    code, output = _schema_check(*WORKFLOWS)
    assert code == 0, output
    code, output = _schema_check(GITHUB / "dependabot.yml", schema="vendor.dependabot")
    assert code == 0, output


def test_zizmor_reports_nothing() -> None:
    code, output = _zizmor(GITHUB)
    assert code == 0, output
    assert "No findings to report" in output


def test_the_schema_check_refuses_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("name: broken\non: push\njobs:\n  build:\n    steps:\n      - run: true\n")  # no runs-on
    code, output = _schema_check(broken)
    assert code != 0, output


def test_zizmor_refuses_a_dangerous_workflow(tmp_path: Path) -> None:
    dangerous = tmp_path / "dangerous.yml"
    dangerous.write_text(
        "name: dangerous\non: pull_request_target\njobs:\n  build:\n    runs-on: ubuntu-24.04\n"
        "    steps:\n      - uses: actions/checkout@v4\n"
        "        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    code, output = _zizmor(dangerous)
    assert code != 0
    for audit in ("dangerous-triggers", "template-injection", "artipacked", "excessive-permissions"):
        assert audit in output, output


def test_every_action_is_pinned_by_full_commit_sha() -> None:
    pins: dict[str, set[str]] = {}
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if not re.match(r"^\s*(?:-\s+)?uses:", line) or LOCAL_USES.match(line):
                continue
            match = PINNED_USES.match(line)
            assert match, f"{path.name}: not pinned by commit SHA with a version comment: {line.strip()}"
            pins.setdefault(match.group(1), set()).add(match.group(2))
    assert pins, "no action found: the check would pass vacuously"
    # One action, one commit everywhere: a bump cannot leave a stale copy behind.
    assert {action: shas for action, shas in pins.items() if len(shas) > 1} == {}


@pytest.mark.parametrize("path", WORKFLOWS, ids=[path.name for path in WORKFLOWS])
def test_permissions_are_minimal_and_credentials_are_not_persisted(path: Path) -> None:
    workflow = _load(path)
    assert "pull_request_target" not in str(workflow["on"])
    assert "workflow_run" not in str(workflow["on"])
    assert workflow["permissions"] == {}
    for name, job in workflow["jobs"].items():
        assert "permissions" in job, f"{name} does not declare its permissions"
        assert set(job["permissions"].values()) <= {"read", "write"}
        assert "write-all" not in str(job["permissions"])
    for step in _steps(workflow):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_ci_lints_runs_both_databases_then_builds_the_artefact() -> None:
    ci = _load(GITHUB / "workflows" / "ci.yml")
    jobs = ci["jobs"]
    assert "make lint" in _run_text({"jobs": {"lint": jobs["lint"]}})
    assert jobs["test"]["strategy"]["matrix"]["database"] == ["sqlite", "postgres"]
    assert 'make "test-${DATABASE}"' in _run_text({"jobs": {"test": jobs["test"]}})
    assert set(jobs["build"]["needs"]) == {"lint", "test"}
    assert "workflow_call" in ci["on"]
    [upload] = [step for step in jobs["build"]["steps"] if step.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["with"]["name"] == "shipyard-${{ github.sha }}"


def test_makes_lint_target_runs_the_four_linters() -> None:
    # CI's lint job is `make lint`; the brief's lint is ruff, the formatter, mypy and bandit.
    makefile = (REPO / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    for tool in ("ruff check", "ruff format --check", "mypy", "bandit"):
        assert tool in lint


def test_deploy_runs_ci_then_publishes_the_commit_then_deploys_it() -> None:
    deploy = _load(GITHUB / "workflows" / "deploy.yml")
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    assert deploy["concurrency"]["cancel-in-progress"] is False
    jobs = deploy["jobs"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"
    assert jobs["image"]["needs"] == ["ci"]
    assert jobs["deploy"]["needs"] == ["image"]
    assert jobs["image"]["permissions"] == {"contents": "read", "packages": "write"}
    image_script = _run_text({"jobs": {"image": jobs["image"]}})
    assert 'image="ghcr.io/${GITHUB_REPOSITORY,,}:${GITHUB_SHA}"' in image_script
    assert "latest" not in image_script
    assert jobs["deploy"]["environment"] == "production"
    [playbook] = [step for step in jobs["deploy"]["steps"] if "ansible-playbook" in step.get("run", "")]
    assert playbook["working-directory"] == "deploy/ansible"
    assert "ansible-playbook -i inventories/production deploy.yml" in playbook["run"]
    # Secrets come from the repository's encrypted secrets, through env, never inline in a script.
    assert "secrets." not in playbook["run"]
    assert all(value.startswith("${{ ") for value in playbook["env"].values())
