"""pgBackRest backups of a real PostgreSQL, proven by restoring them (issue 14, section 1)."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from shipyard.backup.state import BackupStateCollector, state_path
from shipyard.kit.migrate import upgrade
from shipyard.ops.backups_pg import DrillResult, DrillTarget, PgBackRest, run_drill, verify_repository
from shipyard.ops.backups_pg_record import record_backups, record_drill
from shipyard.ops.backups_pg_reference import DrillError, create_restore_point, run_psql
from shipyard.settings import Settings
from tests.fixtures.pgbackrest import BackedUpCluster, backed_up_cluster
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.postgres_only


@pytest.fixture(scope="module")
def cluster() -> Iterator[BackedUpCluster]:
    """One archiving cluster and stanza for the module (setup costs about 30 s)."""
    with backed_up_cluster() as backed_up:
        backed_up.server.psql("CREATE DATABASE app;")
        backed_up.server.psql(
            "CREATE TABLE invoices (id bigserial PRIMARY KEY, body text NOT NULL);"
            "CREATE INDEX invoices_body ON invoices (body);"
            "INSERT INTO invoices (body) SELECT 'seed ' || g FROM generate_series(1, 2000) g;",
            dbname="app",
        )
        yield backed_up


def _psql(cluster: BackedUpCluster, sql: str) -> list[list[str]]:
    return run_psql(cluster.pgbackrest.tool("psql"), cluster.source("app"), sql, prefix=cluster.pgbackrest.prefix)


def _drill(cluster: BackedUpCluster, scratch: str, target: DrillTarget, lines: list[str] | None = None) -> DrillResult:
    progress = lines.append if lines is not None else lambda _line: None
    return run_drill(
        cluster.pgbackrest,
        cluster.source("app"),
        cluster.scratch(scratch),
        free_port(),
        target,
        progress=progress,
        timeout=120,
    )


class _Writer:
    """Inserts rows through one psql session until stopped: writes that continue during a backup."""

    def __init__(self, cluster: BackedUpCluster) -> None:
        psql = cluster.pgbackrest.tool("psql")
        self.process = subprocess.Popen(  # noqa: S603 - fixed binary, SQL on stdin
            [*cluster.pgbackrest.prefix, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", cluster.source("app")],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self) -> None:
        assert self.process.stdin is not None
        number = 0
        while not self.stop.is_set():
            number += 1
            statement = f"INSERT INTO invoices (body) VALUES ('live {number}'); SELECT pg_sleep(0.005);\n"  # noqa: S608 - a counter
            self.process.stdin.write(statement)
            self.process.stdin.flush()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=30) == 0


def test_backup_taken_during_writes_restores_with_no_row_differing(cluster: BackedUpCluster) -> None:
    before = int(_psql(cluster, "SELECT count(*) FROM invoices;")[0][0])
    writer = _Writer(cluster)
    try:
        cluster.pgbackrest.run("--type=diff", "--repo=1", "backup", timeout=120)
        lines: list[str] = []
        result = _drill(cluster, "during-writes", DrillTarget(repo=1), lines)
    finally:
        writer.close()
    assert result.mismatches == []
    restored = result.restored["public.invoices"].rows
    assert restored > before, "rows written during the backup are in the restore"
    assert any("RTO" in line for line in lines)
    assert any("RPO" in line for line in lines)
    assert not cluster.scratch("during-writes").exists()


def test_restore_to_a_named_point_has_the_rows_before_it_and_not_those_after(
    cluster: BackedUpCluster, tmp_path: Path
) -> None:
    _psql(cluster, "CREATE TABLE IF NOT EXISTS pitr (id int PRIMARY KEY); INSERT INTO pitr VALUES (1), (2), (3);")
    psql = cluster.pgbackrest.tool("psql")
    reference = create_restore_point(psql, cluster.source("app"), "before-pitr", prefix=cluster.pgbackrest.prefix)
    reference.save(tmp_path)
    _psql(cluster, "INSERT INTO pitr VALUES (4), (5); DELETE FROM pitr WHERE id = 1;")

    result = _drill(cluster, "pitr", DrillTarget(name="before-pitr", references=tmp_path))

    assert result.mismatches == []
    restored = result.restored["public.pitr"]
    assert restored == reference.tables["public.pitr"]
    assert restored.rows == 3
    # The same checksum over the rows 1-3 the source held before the point: 1 back, 4 and 5 absent.
    expected = _psql(
        cluster,
        "SELECT md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))) FROM (VALUES (1), (2), (3)) AS t(id);",
    )[0][0]
    assert restored.checksum == expected


def test_the_drill_reports_a_table_that_differs_from_the_restore_point(
    cluster: BackedUpCluster, tmp_path: Path
) -> None:
    psql = cluster.pgbackrest.tool("psql")
    reference = create_restore_point(psql, cluster.source("app"), "tampered", prefix=cluster.pgbackrest.prefix)
    path = reference.save(tmp_path)
    raw = json.loads(path.read_text())
    raw["tables"]["public.invoices"]["rows"] += 1
    path.write_text(json.dumps(raw))

    result = _drill(cluster, "tampered", DrillTarget(name="tampered", references=tmp_path))

    assert [line.split(":")[0] for line in result.mismatches] == ["public.invoices"]


def test_verify_fails_on_a_corrupted_repository_file_although_pgbackrest_exits_0(cluster: BackedUpCluster) -> None:
    verify_repository(cluster.pgbackrest, repo=1)  # a sound repository passes
    backups = cluster.base / "repo1" / "backup" / "shipyard"
    victim = max(
        (path for path in backups.rglob("*") if path.is_file() and "pg_data" in path.parts),
        key=lambda path: path.stat().st_size,
    )
    original = victim.read_bytes()
    corrupted = bytearray(original)
    corrupted[len(corrupted) // 2] ^= 0xFF
    victim.write_bytes(bytes(corrupted))
    try:
        raw = subprocess.run(  # noqa: S603 - the trap this check exists for
            cluster.pgbackrest.command("--repo=1", "--output=text", "verify"),
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert raw.returncode == 0
        with pytest.raises(DrillError, match="pgbackrest verify found errors"):
            verify_repository(cluster.pgbackrest, repo=1)
    finally:
        victim.write_bytes(original)


def test_a_wrong_passphrase_fails_clearly(cluster: BackedUpCluster) -> None:
    config_path = cluster.base / "wrong-etc"
    shutil.copytree(cluster.config_path, config_path)
    secrets = config_path / "conf.d" / "secrets.conf"
    secrets.write_text(secrets.read_text().replace("test-passphrase-repo1", "not-the-passphrase"))
    if cluster.pgbackrest.prefix:  # pgBackRest runs as postgres, which must read the copy
        for path in [config_path, *config_path.rglob("*")]:
            shutil.chown(path, "postgres")
    wrong = PgBackRest(config_path=config_path, prefix=cluster.pgbackrest.prefix, pg_bin=cluster.pgbackrest.pg_bin)

    with pytest.raises(DrillError, match="cannot decrypt the repository: its passphrase"):
        wrong.run("--repo=1", "info")  # pgBackRest itself exits 0 here, printing garbage
    with pytest.raises(DrillError, match="cannot decrypt the repository"):
        wrong.run("--repo=1", f"--pg1-path={cluster.scratch('wrong-passphrase')}", "restore")
    with pytest.raises(DrillError, match=r"found errors|no sound repository"):
        verify_repository(wrong, repo=1)  # pgBackRest's verify exits 0 here


def test_the_s3_repository_backs_up_and_restores(cluster: BackedUpCluster) -> None:
    cluster.pgbackrest.run("--type=diff", "--repo=2", "backup", timeout=120)
    _psql(cluster, "CREATE TABLE IF NOT EXISTS offsite (id int); INSERT INTO offsite VALUES (42);")

    result = _drill(cluster, "s3", DrillTarget(repo=2))

    assert result.mismatches == []
    assert result.restored["public.offsite"].rows >= 1


def _gauges(settings: Settings, name: str) -> dict[str, float]:
    """One gauge per target as `/metrics` reports it: the collector the app registers, on the state record."""
    registry = CollectorRegistry()
    registry.register(BackupStateCollector(state_path(settings.data_dir)))
    text = generate_latest(registry).decode()
    return {
        sample.labels["target"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def _audit(settings: Settings) -> list[tuple[str, str, dict[str, object]]]:
    with sqlite3.connect(settings.data_dir / "shipyard.db") as connection:
        rows = connection.execute("SELECT action, result, details FROM audit_events ORDER BY id").fetchall()
    connection.close()
    return [(action, result, json.loads(details)) for action, result, details in rows]


def test_backups_and_drills_move_the_gauges_per_repository_and_are_audited(
    cluster: BackedUpCluster, tmp_path: Path
) -> None:
    settings = Settings.model_validate(
        {"env": "test", "data_dir": tmp_path, "database_url": f"sqlite+aiosqlite:///{tmp_path / 'shipyard.db'}"}
    )
    upgrade(settings)
    before = time.time()
    cluster.pgbackrest.run("--type=diff", "--repo=1", "backup", timeout=120)

    recorded = {backup.target: backup for backup in record_backups(settings, cluster.pgbackrest, "test backup")}

    info = json.loads(cluster.pgbackrest.run("--output=json", "info"))[0]["backup"]
    newest = {
        f"pgbackrest-repo{key}": max(b["timestamp"]["stop"] for b in info if b["database"]["repo-key"] == key)
        for key in (1, 2)
    }
    assert _gauges(settings, "shipyard_backup_last_success_timestamp_seconds") == newest
    assert newest["pgbackrest-repo1"] >= int(before)  # the diff just taken, not the fixture's full
    assert recorded["pgbackrest-repo1"].backup_type == "diff"
    assert _gauges(settings, "shipyard_backup_last_drill_success_timestamp_seconds") == {}

    result = _drill(cluster, "recorded", DrillTarget(repo=1))
    record_drill(settings, 1, "test drill", result=result)
    passed_at = _gauges(settings, "shipyard_backup_last_drill_success_timestamp_seconds")
    assert list(passed_at) == ["pgbackrest-repo1"]
    assert passed_at["pgbackrest-repo1"] >= before
    # The backup gauge of the same target keeps its value beside the drill's.
    assert _gauges(settings, "shipyard_backup_last_success_timestamp_seconds") == newest

    failed = DrillResult(**{**result.__dict__, "mismatches": ["public.invoices: rows 1 != 2"]})
    record_drill(settings, 2, "test drill", result=failed)
    assert _gauges(settings, "shipyard_backup_last_drill_success_timestamp_seconds") == passed_at

    events = _audit(settings)
    assert [(action, outcome) for action, outcome, _ in events] == [
        ("backup.created", "success"),
        ("backup.created", "success"),
        ("backup.drill_passed", "success"),
        ("backup.drill_failed", "failure"),
    ]
    assert events[0][2]["target"] == "pgbackrest-repo1"
    assert events[0][2]["command"] == "test backup"
    drill = events[2][2]
    assert drill["rto_seconds"] == round(result.rto_seconds, 3)
    assert drill["rpo_seconds"] == round(result.rpo_seconds, 3)
    assert drill["restore_point"] == result.restore_point
    assert events[3][2]["mismatches"] == ["public.invoices: rows 1 != 2"]
