"""Secrets are encrypted at rest (ansible-vault), and no Ansible output or log ever shows one."""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.ansible.conftest import ANSIBLE_DIR, VENV_BIN, ansible_env, run

SECRET_NAMES = [
    "vault_shipyard_secret_key",
    "vault_db_app_password",
    "vault_db_migrator_password",
    "vault_db_mcp_password",
    "vault_redis_app_password",
    "vault_redis_admin_password",
    "vault_oidc_client_secret",
]


def _new_vault(tmp_path: Path) -> tuple[Path, Path]:
    vault, password = tmp_path / "vault.yml", tmp_path / "vault-password"
    subprocess.run(  # noqa: S603 - the repository's own script
        [str(ANSIBLE_DIR / "new-vault.sh"), str(vault), str(password)],
        check=True,
        timeout=60,
        env={
            "PATH": f"{VENV_BIN}:/usr/bin:/bin",
            "ANSIBLE_VAULT": str(VENV_BIN / "ansible-vault"),
            "HOME": str(tmp_path),
        },
    )
    return vault, password


def _view(vault: Path, password: Path) -> dict[str, str]:
    result = run(["ansible-vault", "view", "--vault-password-file", str(password), str(vault)])
    assert result.returncode == 0, result.stderr
    values: dict[str, str] = yaml.safe_load(result.stdout)
    return values


def test_new_vault_writes_every_secret_encrypted_and_random(tmp_path: Path) -> None:
    vault, password = _new_vault(tmp_path)
    values = _view(vault, password)
    assert sorted(values) == sorted(SECRET_NAMES)
    assert len(set(values.values())) == len(SECRET_NAMES)
    stored = vault.read_text()
    assert stored.startswith("$ANSIBLE_VAULT;1.1;AES256")
    assert not any(value in stored for value in values.values())
    assert oct(password.stat().st_mode & 0o777) == "0o600"


def test_the_vault_example_names_every_secret_the_roles_use() -> None:
    example = yaml.safe_load((ANSIBLE_DIR / "inventories/production/group_vars/all/vault.yml.example").read_text())
    assert sorted(example) == sorted(SECRET_NAMES)
    used = yaml.safe_load((ANSIBLE_DIR / "group_vars" / "all.yml").read_text())
    assert {value.strip("{} ") for value in used.values() if "vault_" in str(value)} == set(SECRET_NAMES)


@pytest.fixture
def canary_run(tmp_path: Path) -> tuple[str, subprocess.CompletedProcess[str], Path, Path]:
    canary = f"canary-{secrets.token_hex(12)}"
    password = tmp_path / "vault-password"
    password.write_text(secrets.token_hex(16))
    vault = tmp_path / "vault.yml"
    plain = yaml.safe_dump({name: f"{canary}-{name}" for name in SECRET_NAMES})
    encrypt = subprocess.run(  # noqa: S603 - the venv's ansible-vault, the plain text on stdin only
        [
            str(VENV_BIN / "ansible-vault"),
            "encrypt",
            "--vault-password-file",
            str(password),
            "--output",
            str(vault),
            "-",
        ],
        input=plain,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=ansible_env(),
    )
    assert encrypt.returncode == 0, encrypt.stderr
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "app": {"hosts": {"app1": {"ansible_host": "127.0.0.1"}}},
                        "database": {"hosts": {"db1": {"ansible_host": "10.0.3.10"}}},
                        "cache": {"hosts": {"cache1": {"ansible_host": "10.0.3.20"}}},
                    }
                }
            }
        )
    )
    config, log = tmp_path / "etc-shipyard", tmp_path / "ansible.log"
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    overrides = f"app_config_dir={config} app_config_owner={user} app_config_group={group} shipyard_domain=example.test"
    result = run(
        [
            "ansible-playbook",
            "-vvv",
            "--diff",
            "-i",
            str(inventory),
            "-e",
            f"@{ANSIBLE_DIR / 'group_vars' / 'all.yml'}",
            "-e",
            f"@{vault}",
            "-e",
            f"shipyard_deploy_files={ANSIBLE_DIR.parent} {overrides}",
            "--vault-password-file",
            str(password),
            str(Path(__file__).parent / "secrets.yml"),
        ],
        env=ansible_env(tmp=str(tmp_path), ANSIBLE_LOG_PATH=str(log), ANSIBLE_BECOME="false"),
    )
    return canary, result, config, log


def test_a_canary_secret_reaches_the_files_but_no_output_or_log(
    canary_run: tuple[str, subprocess.CompletedProcess[str], Path, Path],
) -> None:
    canary, result, config, log = canary_run
    assert result.returncode == 0, result.stdout + result.stderr
    # The tasks did handle the secrets: they are in the files they wrote...
    assert f"SHIPYARD_SECRET_KEY={canary}-vault_shipyard_secret_key" in (config / "env").read_text()
    assert f"{canary}-vault_db_migrator_password" in (config / "migrate.env").read_text()
    # ...and the output and the log are real and verbose (-vvv, --diff)...
    assert "log-sentinel 10.0.3.10" in result.stdout
    assert "log-sentinel 10.0.3.10" in log.read_text()
    # ...yet neither shows any of them.
    for text in (result.stdout, result.stderr, log.read_text()):
        assert canary not in text
