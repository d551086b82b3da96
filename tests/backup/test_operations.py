"""The backup commands as an operator runs them, the daily scheduled backup, and `/metrics`."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from taskiq import InMemoryBroker

from shipyard.app import create_app
from shipyard.backup.operations import run_backup, scheduled_backup
from shipyard.kit.db import create_database
from shipyard.settings import InvalidSettingError, Settings
from shipyard.worker.metrics import JobMetrics
from shipyard.worker.runtime import Runtime
from shipyard.worker.scheduler import Scheduler
from shipyard.worker_wiring import BACKUP_DAILY, WIRING
from tests.backup.conftest import AgeKeys
from tests.fixtures.cli import Cli, cli_env
from tests.fixtures.lifespan import running_lifespan

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def backup_cli(database_file: Path, age_keys: AgeKeys, tmp_path: Path) -> Cli:
    """`shipyard` on this test's SQLite file, with backups configured."""
    return Cli(
        cli_env(
            tmp_path / "pycache",
            database_file.parent,
            SHIPYARD_DATABASE_URL=f"sqlite+aiosqlite:///{database_file}",
            SHIPYARD_BACKUP_DIR=str(tmp_path / "backups"),
            SHIPYARD_BACKUP_AGE_RECIPIENT=age_keys.recipient,
            SHIPYARD_BACKUP_AGE_IDENTITY_FILE=str(age_keys.identity_file),
            SHIPYARD_LOG_FORMAT="json",
        ),
        tmp_path,
    )


def test_backup_then_restore_from_the_command_line(backup_cli: Cli, age_keys: AgeKeys) -> None:
    backed_up = backup_cli.run("backup")
    assert backed_up.returncode == 0, backed_up.stderr
    assert "backup: " in backed_up.stderr
    assert "(100%)" in backed_up.stderr  # progress, to the end
    written = Path(backed_up.stdout.split("backup written to ", 1)[1].split(" (", 1)[0])
    assert f"({written.stat().st_size} bytes" in backed_up.stdout
    assert backed_up.stdout.count("\n") == 1  # stdout carries the report alone; logs go to stderr
    logged = [json.loads(line) for line in backed_up.stderr.splitlines() if line.startswith("{")]
    assert any(line["event"] == "backup_created" and line["size_bytes"] == written.stat().st_size for line in logged)
    # The secret key never appears in what the command prints.
    secret = age_keys.identity_file.read_text().split("\n")[1]
    assert secret not in backed_up.stdout + backed_up.stderr

    restored = backup_cli.run("restore", str(written))
    assert restored.returncode == 0, restored.stderr
    assert f"restored {written}" in restored.stdout
    assert "the previous database is kept at" in restored.stdout
    assert secret not in restored.stdout + restored.stderr

    missing = backup_cli.run("restore", str(written) + ".nope")
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines()[-1] == f"error: no backup at {written}.nope"


def test_a_backup_directory_without_a_recipient_is_a_one_line_start_up_error(backup_cli: Cli) -> None:
    result = backup_cli.run("backup", SHIPYARD_BACKUP_AGE_RECIPIENT="")
    assert result.returncode == 1
    expected = (
        "error: SHIPYARD_BACKUP_DIR is set, so SHIPYARD_BACKUP_AGE_RECIPIENT must be the age public key"
        " (age1..., from `age-keygen -y KEYFILE`) that backups are encrypted to"
    )
    assert result.stderr.strip().splitlines() == [expected]
    with pytest.raises(InvalidSettingError, match="SHIPYARD_BACKUP_AGE_RECIPIENT"):
        Settings.model_validate({"backup_dir": "/tmp/x", "backup_age_recipient": "age1tooshort"})  # noqa: S108


def _gauge(text: str, name: str) -> dict[str, float]:
    return {
        sample.labels["target"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


@pytest.mark.parametrize("multiprocess", [False, True])
async def test_metrics_report_the_last_successful_backup_in_every_process(
    backup_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, multiprocess: bool
) -> None:
    if multiprocess:
        (tmp_path / "prom").mkdir()
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prom"))
    app = create_app(backup_settings)
    async with (
        running_lifespan(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        assert _gauge((await client.get("/metrics")).text, "shipyard_backup_last_success_timestamp_seconds") == {}
        # Taken by another process (the CLI): the app reads the shared record at each scrape.
        result = await asyncio.to_thread(run_backup, backup_settings, None, "test")
        text = (await client.get("/metrics")).text
    assert backup_settings.backup_dir is not None
    target = str(backup_settings.backup_dir.resolve())
    assert _gauge(text, "shipyard_backup_last_success_timestamp_seconds") == {
        target: pytest.approx(result.finished_at.timestamp())
    }
    assert _gauge(text, "shipyard_backup_last_size_bytes") == {target: result.size_bytes}


async def test_the_scheduler_takes_the_daily_backup_and_keeps_the_newest(
    backup_settings: Settings, database_file: Path
) -> None:
    settings = backup_settings.model_copy(update={"backup_keep": 2})
    assert settings.backup_dir is not None
    for _ in range(2):
        await scheduled_backup(settings)
    database = create_database(settings)
    runtime = Runtime(settings, database, InMemoryBroker(), JobMetrics(), WIRING)
    try:
        jobs = runtime.periodic_jobs()
        assert BACKUP_DAILY in [job.name for job in jobs]
        scheduler = Scheduler(database, [job for job in jobs if job.name == BACKUP_DAILY], lease_s=30, tick_s=1)
        assert await scheduler.tick() == [BACKUP_DAILY]
        assert await scheduler.tick() == []  # once a day
    finally:
        await runtime.http.aclose()
        await database.dispose()
    archives = sorted(settings.backup_dir.iterdir())
    assert len(archives) == 2  # three taken, the newest two kept
    with sqlite3.connect(database_file) as connection:
        events = connection.execute("SELECT details FROM audit_events WHERE action = 'backup.created'").fetchall()
    connection.close()
    assert len(events) == 3
    assert json.loads(events[-1][0])["command"] == "scheduler backup.daily"


def test_no_daily_backup_without_a_backup_directory(backup_settings: Settings) -> None:
    settings = backup_settings.model_copy(update={"backup_dir": None})
    database = create_database(settings)
    runtime = Runtime(settings, database, InMemoryBroker(), JobMetrics(), WIRING)
    assert BACKUP_DAILY not in [job.name for job in runtime.periodic_jobs()]
