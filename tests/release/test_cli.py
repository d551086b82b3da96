"""`shipyard drain`, `shipyard releases` and the refusals of `shipyard deploy` before it touches anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli import app
from shipyard.kit.draining import is_draining
from shipyard.release.layout import Releases

pytestmark = pytest.mark.database_independent


def test_drain_on_off_and_status(tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"SHIPYARD_DATA_DIR": str(tmp_path)}

    on = runner.invoke(app, ["drain", "on"], env=env)
    assert (on.exit_code, on.stdout.strip()) == (0, "draining")
    assert is_draining(tmp_path)
    status = runner.invoke(app, ["drain"], env=env)
    assert status.stdout.strip() == "draining"
    off = runner.invoke(app, ["drain", "off"], env=env)
    assert (off.exit_code, off.stdout.strip()) == (0, "serving")
    assert not is_draining(tmp_path)


def test_releases_prints_the_links(tmp_path: Path) -> None:
    releases = Releases(tmp_path)
    (releases.releases_dir / "abcdef1").mkdir(parents=True)
    (releases.releases_dir / "abcdef1" / "RELEASE").write_text("abcdef1\n")
    releases.point("current", "abcdef1")
    releases.set_live("green")

    result = CliRunner().invoke(app, ["releases", "--root", str(tmp_path)])

    assert result.exit_code == 0, result.output
    state = json.loads(result.stdout)
    assert state["built"] == ["abcdef1"]
    assert state["current"] == "abcdef1"
    assert state["previous"] is None
    assert state["live_slot"] == "green"


def test_deploy_refuses_a_release_that_was_never_built(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["deploy", "abcdef1", "--root", str(tmp_path), "--run-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "release abcdef1 is not built" in result.stderr
    assert list(tmp_path.iterdir()) == [], "a refused deploy changed the release root"


def test_rollback_without_a_previous_release_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["rollback", "--root", str(tmp_path), "--run-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "no previous release" in result.stderr
