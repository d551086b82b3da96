"""Apply the Ansible roles to the cluster: the inventory, the vault and ``ansible-playbook`` in the namespace.

Ansible runs inside the cluster's namespace, so it connects from the management address over real
SSH, as an operator's controller would. The inventory says, per host, how that host is reached
now: as root on 22 while it is fresh, as ``deploy`` on 2222 once the common role has hardened it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from deploy.cluster.cluster import KNOWN_HOSTS, SSH_KEY, reached_hardened
from deploy.cluster.commands import in_netns, run
from deploy.cluster.config import (
    ANSIBLE_DIR,
    CACHE_DIR,
    HARDENED_SSH_PORT,
    HOSTS,
    INITIAL_SSH_PORT,
    MANAGEMENT_ADDRESS,
    REPO,
    STATE_DIR,
    ClusterError,
)
from deploy.cluster.release import ensure_release

INVENTORY = STATE_DIR / "inventory.yml"
VAULT = STATE_DIR / "vault.yml"
VAULT_PASSWORD = STATE_DIR / "vault-password"
LOG_DIR = CACHE_DIR / "logs"
CLUSTER_GROUP_VARS = ANSIBLE_DIR / "inventories" / "cluster"
PLAYBOOK_TIMEOUT_SECONDS = 1200
VAULT_NAMES = (
    "vault_shipyard_secret_key",
    "vault_db_app_password",
    "vault_db_migrator_password",
    "vault_db_mcp_password",
    "vault_redis_app_password",
    "vault_redis_admin_password",
    "vault_oidc_client_secret",
)
RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


@dataclass(frozen=True)
class PlaybookRun:
    """The outcome of one ``ansible-playbook``: exit code, output, per-host recap and duration."""

    returncode: int
    output: str
    recap: dict[str, dict[str, int]]
    seconds: float

    def failure_summary(self) -> str:
        """The lines that say what failed, for an assertion message."""
        lines = [line for line in self.output.splitlines() if "fatal:" in line or "FAILED" in line or "ERROR" in line]
        return "\n".join(lines[-10:]) or self.output[-2000:]


def _tool(name: str) -> str:
    # The controller's Ansible is the one pinned in the lockfile, next to this interpreter.
    return str(Path(sys.executable).parent / name)


def write_inventory() -> Path:
    """Write the test inventory: each host as it can be reached now, plus the cluster's addresses."""
    groups: dict[str, dict[str, dict[str, object]]] = {}
    for host in HOSTS:
        hardened = reached_hardened(host)
        variables: dict[str, object] = {
            "ansible_host": host.private_address,
            "private_address": host.private_address,
            "ansible_port": HARDENED_SSH_PORT if hardened else INITIAL_SSH_PORT,
            "ansible_user": "deploy" if hardened else "root",
        }
        if host.public_address:
            variables["public_address"] = host.public_address
        groups.setdefault(host.group, {"hosts": {}})["hosts"][host.name] = variables
    inventory = {
        "all": {
            "vars": {
                "management_address": MANAGEMENT_ADDRESS,
                "ansible_ssh_private_key_file": str(SSH_KEY),
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={KNOWN_HOSTS}",
            },
            "children": groups,
        }
    }
    # JSON is YAML; Ansible's yaml inventory plugin reads it.
    INVENTORY.write_text(json.dumps(inventory, indent=2) + "\n", encoding="utf-8")
    return INVENTORY


def write_vault() -> None:
    """Fresh random secrets for this run, encrypted with ansible-vault as the roles expect at rest."""
    if VAULT.exists():
        return
    VAULT_PASSWORD.write_text(secrets.token_hex(32) + "\n", encoding="utf-8")
    VAULT_PASSWORD.chmod(0o600)
    plain = "".join(f"{name}: {secrets.token_hex(24)}\n" for name in VAULT_NAMES)
    encrypt = [_tool("ansible-vault"), "encrypt", "--vault-password-file", str(VAULT_PASSWORD), "--output", str(VAULT)]
    run([*encrypt, "-"], what="encrypting the cluster's vault", input_text=plain)


def ansible_environment() -> dict[str, str]:
    """The environment ``ansible-playbook`` runs with: the repo's config, per-run sockets, no colour."""
    control_dir = STATE_DIR / "cp"
    control_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # The controller's own tools first: the venv's Ansible and the uv that `make install` bootstrapped
    # (.tools/bin), which the app role's release build runs on the controller.
    tool_dirs = [str(Path(sys.executable).parent), str(REPO / ".tools" / "bin")]
    return {
        **os.environ,
        "PATH": os.pathsep.join([*tool_dirs, os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")]),
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        # A fresh control-socket directory per run: masters of a torn-down cluster would hang the next.
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir),
        "ANSIBLE_LOCAL_TEMP": str(STATE_DIR / "ansible-tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "SHIPYARD_CLUSTER_STATE": str(STATE_DIR),
    }


def run_playbook(playbook: str = "site.yml", *extra: str, timeout: float = PLAYBOOK_TIMEOUT_SECONDS) -> PlaybookRun:
    """Run ``playbook`` (relative to ``deploy/ansible``) against the cluster, inside its namespace."""
    if not (ANSIBLE_DIR / playbook).exists():
        raise ClusterError(f"{ANSIBLE_DIR / playbook} does not exist: the roles are not written yet")
    write_vault()
    write_inventory()
    # Built here, outside the namespace, since Ansible's controller-side tasks have no network there.
    release_id, release_cache = ensure_release()
    command = in_netns(
        [
            _tool("ansible-playbook"),
            "-i",
            str(CLUSTER_GROUP_VARS),
            "-i",
            str(INVENTORY),
            "-e",
            f"@{VAULT}",
            "--vault-password-file",
            str(VAULT_PASSWORD),
            "-e",
            f"app_release={release_id}",
            "-e",
            f"app_release_cache={release_cache}",
            playbook,
            *extra,
        ]
    )
    started = time.monotonic()
    try:
        result = subprocess.run(  # noqa: S603 (fixed argument list)
            command,
            cwd=ANSIBLE_DIR,
            env=ansible_environment(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ClusterError(f"ansible-playbook {playbook} did not finish within {timeout:.0f} s") from error
    output = result.stdout + result.stderr
    # Kept in the cache, not the run's state: the log must outlive the teardown that follows a failure.
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    (LOG_DIR / f"ansible-{playbook.replace('/', '-')}.log").write_text(output, encoding="utf-8")
    recap = {
        match["host"]: {key: int(match[key]) for key in ("ok", "changed", "unreachable", "failed")}
        for match in RECAP_LINE.finditer(result.stdout)
    }
    return PlaybookRun(result.returncode, output, recap, round(time.monotonic() - started, 1))
