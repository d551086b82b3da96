"""A migrated SQLite database and a fresh age key pair per test (tests never share keys)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyrage import x25519

from shipyard.kit.migrate import upgrade
from shipyard.settings import Settings


@dataclass(frozen=True, slots=True)
class AgeKeys:
    """A generated identity file and its public key."""

    identity_file: Path
    recipient: str


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per session, copied by each test (whatever SHIPYARD_TEST_DB says)."""
    directory = tmp_path_factory.mktemp("backup-template")
    path = directory / "template.db"
    upgrade(
        Settings.model_validate({"env": "test", "data_dir": directory, "database_url": f"sqlite+aiosqlite:///{path}"})
    )
    return path


@pytest.fixture
def age_keys(tmp_path: Path) -> AgeKeys:
    """A fresh age key pair; the secret key lives only in this test's directory."""
    identity = x25519.Identity.generate()
    identity_file = tmp_path / "keys" / "backup.key"
    identity_file.parent.mkdir()
    identity_file.write_text(f"# test key\n{identity}\n", encoding="utf-8")
    return AgeKeys(identity_file, str(identity.to_public()))


@pytest.fixture
def database_file(sqlite_template: Path, tmp_path: Path) -> Path:
    """This test's SQLite database, migrated."""
    path = tmp_path / "data" / "shipyard.db"
    path.parent.mkdir()
    shutil.copyfile(sqlite_template, path)
    return path


@pytest.fixture
def backup_settings(database_file: Path, age_keys: AgeKeys, tmp_path: Path) -> Settings:
    """Settings for the embedded default with backups configured."""
    return Settings.model_validate(
        {
            "env": "test",
            "log_format": "json",
            "data_dir": database_file.parent,
            "database_url": f"sqlite+aiosqlite:///{database_file}",
            "backup_dir": tmp_path / "backups",
            "backup_age_recipient": age_keys.recipient,
            "backup_age_identity_file": age_keys.identity_file,
            "jobs_embedded": False,
        }
    )
