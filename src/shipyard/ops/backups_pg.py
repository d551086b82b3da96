"""PostgreSQL backups with pgBackRest: the repository health check and the restore drill.

The drill proves a backup by restoring it: it restores into a scratch cluster on another port,
starts it, compares every table with the source as of the restore point, runs pg_amcheck, and
reports the RTO and RPO. docs/operations/backups-postgres.md describes how to run and read it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from shipyard.ops.backups_pg_reference import (
    DrillError,
    Reference,
    TableDigest,
    create_restore_point,
    differences,
    digest_tables,
    run_psql,
    sql_literal,
)

# `pgbackrest verify` 2.45 exits 0 even when it finds a corrupt or missing file; its text output
# is the only signal ("status: error" and per-file failure counters).
_VERIFY_ERROR = re.compile(r"status:\s*error|checksum invalid:\s*[1-9]|missing:\s*[1-9]|size invalid:\s*[1-9]")

# What pgBackRest prints when it decrypted an info file with the wrong passphrase.
_UNDECRYPTABLE = re.compile(r"FormatError: key/value found outside of section|CryptoError|cipher header invalid")


@dataclass(frozen=True)
class PgBackRest:
    """How to run pgBackRest and the PostgreSQL client tools for one stanza."""

    stanza: str = "shipyard"
    config: Path | None = None
    # A directory holding pgbackrest.conf and conf.d/ (the secrets); overrides *config*.
    config_path: Path | None = None
    # Prepended to every command, e.g. ("runuser", "-u", "postgres", "--") when run as root.
    prefix: tuple[str, ...] = ()
    pg_bin: Path = Path("/usr/lib/postgresql/15/bin")

    def command(self, *args: str) -> list[str]:
        """The argv of `pgbackrest <args>` for this stanza."""
        config = [f"--config={self.config}"] if self.config else []
        if self.config_path:
            config = [f"--config-path={self.config_path}"]
        return [*self.prefix, "pgbackrest", *config, f"--stanza={self.stanza}", *args]

    def run(self, *args: str, timeout: float = 3600.0) -> str:
        """Run pgBackRest; on failure (or an undecryptable repository) raise DrillError with its own message."""
        result = subprocess.run(  # noqa: S603 - fixed binary, arguments from the operator
            self.command(*args), capture_output=True, text=True, errors="replace", check=False, timeout=timeout
        )
        output = result.stdout + result.stderr
        if _UNDECRYPTABLE.search(output):
            # A wrong passphrase decrypts to garbage that pgBackRest reports as a parse error of its
            # info files (and `info` even exits 0), never as a wrong passphrase.
            msg = (
                f"pgbackrest {args[-1]} cannot decrypt the repository: its passphrase (repo1-cipher-pass or"
                " repo2-cipher-pass, in /etc/pgbackrest/conf.d/secrets.conf) is not the one the repository"
                " was created with"
            )
            raise DrillError(msg)
        if result.returncode != 0:
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
            msg = f"pgbackrest {args[-1]} failed (exit {result.returncode}): {' '.join(detail[-3:])}"
            raise DrillError(msg)
        return result.stdout

    def tool(self, name: str) -> str:
        """Path of a PostgreSQL client or server binary (not on PATH on Debian)."""
        candidate = self.pg_bin / name
        return str(candidate) if candidate.exists() else (shutil.which(name) or name)


def verify_failures(output: str) -> list[str]:
    """The lines of `pgbackrest verify --output=text` that report a problem."""
    return [line.strip() for line in output.splitlines() if _VERIFY_ERROR.search(line)]


def verify_repository(pgbackrest: PgBackRest, repo: int | None = None) -> str:
    """Run `pgbackrest verify` and raise DrillError unless its text output reports a sound repository."""
    args = ["--output=text", "--verbose"] + ([f"--repo={repo}"] if repo else []) + ["verify"]
    output = pgbackrest.run(*args)
    failures = verify_failures(output)
    if failures:
        msg = "pgbackrest verify found errors: " + "; ".join(failures[:5])
        raise DrillError(msg)
    if not re.search(r"status:\s*ok", output):
        # Nothing verified is no proof: e.g. a repository it could not read prints nothing at all.
        msg = "pgbackrest verify reported no sound repository: " + (output.strip()[:200] or "no output")
        raise DrillError(msg)
    return output


@dataclass
class DrillTarget:
    """Where to restore to: a fresh restore point (the default) or a named one the operator made."""

    name: str | None = None
    references: Path | None = None
    repo: int | None = None


@dataclass
class DrillResult:
    """What the drill measured."""

    restore_point: str
    tables: int
    rows: int
    rto_seconds: float
    # RPO: what the repository lacked at the drill's start (unarchived WAL), i.e. the loss if the
    # host had died then.
    rpo_seconds: float
    rpo_wal_bytes: int
    # What the restore point misses of the source at the end of the drill (segment switches included).
    point_age_seconds: float
    point_wal_bytes: int
    mismatches: list[str] = field(default_factory=list)
    restored: dict[str, TableDigest] = field(default_factory=dict)


@dataclass
class ScratchCluster:
    """The throwaway cluster the drill restores into: its own port, a private socket, no archiving."""

    path: Path
    port: int
    pgbackrest: PgBackRest

    @property
    def socket_dir(self) -> Path:
        """A socket directory inside the data directory, private to the cluster's owner."""
        return self.path / "drill-socket"

    def conninfo(self, database: str, user: str) -> str:
        """Libpq connection string over the scratch cluster's socket."""
        return f"host={self.socket_dir} port={self.port} dbname={database} user={user}"

    def configure(self) -> None:
        """Write a config of its own: the source's may live outside PGDATA, and must not be reused.

        Hot standby is off, so recovery does not insist on the source's max_connections and the
        like; local trust is safe because the socket sits in a directory only the owner can enter.
        """
        (self.path / "drill.conf").write_text(
            f"port = {self.port}\nlisten_addresses = ''\nunix_socket_directories = '{self.socket_dir}'\n"
            f"hba_file = '{self.path / 'drill_hba.conf'}'\nident_file = '{self.path / 'drill_ident.conf'}'\n"
            "archive_mode = off\nhot_standby = off\nshared_buffers = '128MB'\nmax_connections = 20\n"
        )
        (self.path / "drill_hba.conf").write_text("local all all trust\n")
        (self.path / "drill_ident.conf").write_text("")
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        if os.geteuid() == 0:  # run as root with a prefix: the cluster's owner (who restored it) must own these
            owner = self.path.stat()
            for name in ("drill.conf", "drill_hba.conf", "drill_ident.conf", "drill-socket"):
                os.chown(self.path / name, owner.st_uid, owner.st_gid)

    def log_tail(self) -> list[str]:
        """The last lines of the scratch cluster's server log."""
        log = self.path / "drill.log"
        return log.read_text().splitlines()[-5:] if log.exists() else []

    def pg_ctl(self, *args: str, timeout: float) -> None:
        """Run pg_ctl on the scratch cluster."""
        argv = [*self.pgbackrest.prefix, self.pgbackrest.tool("pg_ctl"), "-D", str(self.path), *args]
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout + 30)  # noqa: S603
        if result.returncode != 0:
            msg = f"pg_ctl {args[0]} failed: {result.stderr.strip()} {' '.join(self.log_tail())}"
            raise DrillError(msg)

    def start(self, timeout: float) -> None:
        """Start the cluster; recovery then runs to the target and promotes."""
        config = f"-c config_file={self.path / 'drill.conf'}"
        self.pg_ctl(
            "start", "-w", "-t", str(int(timeout)), "-l", str(self.path / "drill.log"), "-o", config, timeout=timeout
        )

    def stop(self) -> None:
        """Stop the cluster if it runs (fast shutdown: its data is thrown away)."""
        if (self.path / "postmaster.pid").exists():
            self.pg_ctl("stop", "-m", "immediate", "-w", timeout=60)


def _wait_for_archive(pgbackrest: PgBackRest, source: str, timeout: float) -> None:
    """Close the current WAL segment and wait until the archiver has pushed it to the repository."""
    psql = pgbackrest.tool("psql")
    segment = run_psql(psql, source, "SELECT pg_walfile_name(pg_switch_wal());", prefix=pgbackrest.prefix)[0][0]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = run_psql(
            psql,
            source,
            "SELECT coalesce(last_archived_wal, ''), coalesce(last_failed_wal, '') FROM pg_stat_archiver;",
            prefix=pgbackrest.prefix,
        )
        if rows and rows[0][0] >= segment:
            return
        time.sleep(0.2)
    msg = f"WAL segment {segment} was not archived within {timeout:.0f} s: check archive_command and `pgbackrest check`"
    raise DrillError(msg)


def run_drill(
    pgbackrest: PgBackRest,
    source: str,
    scratch_path: Path,
    scratch_port: int,
    target: DrillTarget,
    *,
    progress: Callable[[str], None] = print,
    keep: bool = False,
    timeout: float = 1800.0,
) -> DrillResult:
    """Restore into a scratch cluster, verify it against the source, and measure RTO and RPO."""
    started = time.monotonic()
    psql = pgbackrest.tool("psql")

    def step(message: str) -> None:
        progress(f"[{time.monotonic() - started:7.1f} s] {message}")

    rpo_seconds, rpo_wal_bytes = archive_lag(psql, source, pgbackrest.prefix)
    step(f"RPO now: the repository lacks the last {rpo_seconds:.1f} s ({rpo_wal_bytes} bytes) of WAL")

    if target.name is None:
        name = "drill-" + datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        step(f"creating restore point {name} on the source (tables locked against writes while counted)")
        reference = create_restore_point(psql, source, name, prefix=pgbackrest.prefix)
    else:
        if target.references is None:
            msg = "a named restore point needs --references, the directory `shipyard ops restore-point` wrote to"
            raise DrillError(msg)
        reference = Reference.load(target.references, target.name)
    # Recovery must find the WAL up to the point in the repository, or it ends short of it.
    _wait_for_archive(pgbackrest, source, timeout=min(timeout, 300.0))
    step(f"restore point {reference.name}: LSN {reference.lsn} at {reference.time}, {len(reference.tables)} tables")

    if scratch_path.exists() and any(scratch_path.iterdir()):
        msg = f"scratch directory {scratch_path} is not empty; remove it or pick another"
        raise DrillError(msg)
    scratch = ScratchCluster(scratch_path, scratch_port, pgbackrest)
    repo = [f"--repo={target.repo}"] if target.repo else []
    step(f"restoring into {scratch_path}")
    try:
        pgbackrest.run(
            f"--pg1-path={scratch_path}",
            "--type=name",
            f"--target={reference.name}",
            "--target-action=promote",
            "--archive-mode=off",
            *repo,
            "restore",
            timeout=timeout,
        )
        scratch.configure()
        step(f"starting the scratch cluster on port {scratch_port}; recovery replays WAL to the restore point")
        scratch.start(timeout)
        conninfo = scratch.conninfo(reference.database, reference.user)
        _wait_until_promoted(scratch, conninfo, timeout)
        step("comparing row counts and checksums of every table")
        actual = digest_tables(psql, conninfo, prefix=pgbackrest.prefix)
        mismatches = differences(reference.tables, actual)
        step("running pg_amcheck (heap and every B-tree index)")
        mismatches += _amcheck(pgbackrest, scratch, reference, timeout)
        rto = time.monotonic() - started
        point_rows = run_psql(
            psql,
            source,
            # The reference file is read back from disk: its values go in as quoted literals.
            f"SELECT extract(epoch FROM clock_timestamp() - {sql_literal(reference.time)}::timestamptz),"  # noqa: S608  # nosec B608 - quoted literals
            f" pg_wal_lsn_diff(pg_current_wal_lsn(), {sql_literal(reference.lsn)}::pg_lsn);",
            prefix=pgbackrest.prefix,
        )[0]
    finally:
        scratch.stop()
        if not keep:
            shutil.rmtree(scratch_path, ignore_errors=True)
    result = DrillResult(
        restore_point=reference.name,
        tables=len(actual),
        rows=sum(digest.rows for digest in actual.values()),
        rto_seconds=rto,
        rpo_seconds=rpo_seconds,
        rpo_wal_bytes=rpo_wal_bytes,
        point_age_seconds=float(point_rows[0]),
        point_wal_bytes=int(float(point_rows[1])),
        mismatches=mismatches,
        restored=actual,
    )
    for line in mismatches:
        step(f"MISMATCH {line}")
    step(f"{result.tables} tables, {result.rows} rows; {len(mismatches)} mismatches")
    step(f"RTO {result.rto_seconds:.1f} s (start to a verified cluster)")
    step(
        f"RPO {result.rpo_seconds:.1f} s and {result.rpo_wal_bytes} bytes of WAL (not yet archived at the start:"
        " the loss had the host died then)"
    )
    step(
        f"restore point: {result.point_age_seconds:.1f} s and {result.point_wal_bytes} bytes of WAL"
        " behind the source at the end (segment switches included)"
    )
    return result


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def archive_lag(psql: str, source: str, prefix: Sequence[str]) -> tuple[float, int]:
    """Seconds since the last segment was archived, and bytes of WAL written after its end."""
    row = run_psql(
        psql,
        source,
        "SELECT coalesce(last_archived_wal, ''), coalesce(extract(epoch FROM now() - last_archived_time), 0),"
        " pg_current_wal_lsn(), setting FROM pg_stat_archiver, pg_settings WHERE name = 'wal_segment_size';",
        prefix=prefix,
    )[0]
    segment, seconds, current, segment_size = row[0], float(row[1]), _lsn(row[2]), int(row[3])
    if len(segment) < 24:  # noqa: PLR2004 - a WAL file name is 24 hex digits; nothing archived yet
        return seconds, current
    archived_end = (int(segment[8:16], 16) << 32) + (int(segment[16:24], 16) + 1) * segment_size
    unarchived = max(0, current - archived_end)
    # Nothing written since the last archived segment: nothing to lose, however long ago that was.
    return (seconds if unarchived else 0.0), unarchived


def _wait_until_promoted(scratch: ScratchCluster, conninfo: str, timeout: float) -> None:
    """Wait until recovery has reached the target and promoted; fail at once if the cluster died."""
    psql = scratch.pgbackrest.tool("psql")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if run_psql(psql, conninfo, "SELECT pg_is_in_recovery();", prefix=scratch.pgbackrest.prefix)[0][0] == "f":
                return
        except DrillError:
            # Without hot standby, connections are refused until recovery ends.
            if not (scratch.path / "postmaster.pid").exists():
                msg = "the scratch cluster stopped during recovery: " + " ".join(scratch.log_tail())
                raise DrillError(msg) from None
        time.sleep(0.2)
    msg = f"the scratch cluster was still recovering after {timeout:.0f} s"
    raise DrillError(msg)


def _amcheck(pgbackrest: PgBackRest, scratch: ScratchCluster, reference: Reference, timeout: float) -> list[str]:
    argv = [
        *pgbackrest.prefix,
        pgbackrest.tool("pg_amcheck"),
        "--install-missing",
        "--heapallindexed",
        "-h",
        str(scratch.socket_dir),
        "-p",
        str(scratch.port),
        "-U",
        reference.user,
        reference.database,
    ]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)  # noqa: S603
    if result.returncode == 0:
        return []
    output = (result.stdout + result.stderr).strip().splitlines()
    return [f"pg_amcheck (exit {result.returncode}): " + " ".join(output[:5])]
