"""`make idp` (scripts/dev-idp.sh): refuses an old or missing Node.js, and follows the app's port."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.oidc import development_app_url

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dev-idp.sh"


def _run_with_path(bin_dir: Path) -> subprocess.CompletedProcess[str]:
    for tool in ("bash", "dirname"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    return subprocess.run(  # noqa: S603 - the repository's own script
        [str(bin_dir / "bash"), str(SCRIPT)],
        env={"PATH": str(bin_dir), "HOME": os.environ.get("HOME", "/")},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_a_missing_node_is_refused_with_the_version_needed(tmp_path: Path) -> None:
    result = _run_with_path(tmp_path)
    assert result.returncode == 1
    assert "node is not installed" in result.stderr
    assert "Node.js 20.19 or later" in result.stderr


@pytest.mark.parametrize("version", ["18.20.4", "20.18.1", "v-broken"])
def test_an_old_node_is_refused_with_the_version_needed(tmp_path: Path, version: str) -> None:
    node = tmp_path / "node"
    node.write_text(f"#!{shutil.which('bash')}\necho '{version}'\n")
    node.chmod(0o755)
    result = _run_with_path(tmp_path)
    assert result.returncode == 1
    assert f"found Node.js {version}" in result.stderr
    assert "Node.js 20.19 or later" in result.stderr


@pytest.mark.parametrize(
    ("environ", "url"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"SHIPYARD_PORT": "8100"}, "http://127.0.0.1:8100"),
        ({"PORT": "8200", "SHIPYARD_PORT": "8100"}, "http://127.0.0.1:8200"),
    ],
)
def test_the_development_client_follows_the_apps_port(environ: dict[str, str], url: str) -> None:
    assert development_app_url(environ) == url
