"""Running the real ansible-playbook, ansible-lint and ansible-vault from the project's virtualenv."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
ANSIBLE_DIR = REPO / "deploy" / "ansible"
VENV_BIN = Path(sys.executable).parent


def ansible_env(**extra: str) -> dict[str, str]:
    """The environment for Ansible's commands: the venv first, this directory's ansible.cfg, no colour."""
    return {
        "PATH": f"{VENV_BIN}:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": "C.UTF-8",
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        # The test runs write into the temporary directory only (no ~/.ansible state in the repo).
        "ANSIBLE_LOCAL_TEMP": extra.pop("tmp", tempfile.gettempdir()),
        **extra,
    }


def run(args: list[str], *, env: dict[str, str] | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """Run one of the venv's Ansible commands from deploy/ansible/."""
    return subprocess.run(  # noqa: S603 - the venv's own Ansible binaries, arguments from the tests
        [str(VENV_BIN / args[0]), *args[1:]],
        cwd=ANSIBLE_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=env or ansible_env(),
    )
