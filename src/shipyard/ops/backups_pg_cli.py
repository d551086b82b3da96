"""`shipyard ops`: PostgreSQL restore drill, named restore points and the repository check (pgBackRest)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from shipyard.kit.logging import configure_logging
from shipyard.ops.backups_pg import DrillTarget, PgBackRest, run_drill, verify_repository
from shipyard.ops.backups_pg_record import record_backups, record_drill
from shipyard.ops.backups_pg_reference import DrillError, create_restore_point
from shipyard.settings import LogFormat, Settings


def _settings() -> Settings:
    """Settings for the state record (SHIPYARD_DATA_DIR) and the audit database; logs go to stderr."""
    settings = Settings()
    configure_logging(json_lines=settings.log_format is LogFormat.JSON, level=settings.log_level, stream=sys.stderr)
    return settings


ops_app = typer.Typer(
    help="PostgreSQL backup operations (pgBackRest): drill, restore points, verify.", no_args_is_help=True
)

Stanza = Annotated[str, typer.Option(help="pgBackRest stanza.")]
Config = Annotated[Path | None, typer.Option(help="pgBackRest config file (default: its own default path).")]
PgBin = Annotated[Path, typer.Option(help="Directory of the PostgreSQL binaries.")]
Source = Annotated[str, typer.Option(help="libpq connection string of the source database.")]
References = Annotated[Path, typer.Option(help="Directory of restore-point references (row counts and checksums).")]
_DEFAULT_REFERENCES = Path("/var/lib/pgbackrest-drill")
_DEFAULT_SOURCE = "host=/var/run/postgresql dbname=shipyard"


def _fail(error: DrillError) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code=1)


@ops_app.command("restore-drill")
def restore_drill(  # noqa: PLR0913, PLR0917 - typer maps each parameter to one option of the drill
    scratch_dir: Annotated[Path, typer.Option(help="Empty directory for the scratch cluster.")] = Path(
        "/var/lib/postgresql/drill"
    ),
    scratch_port: Annotated[int, typer.Option(help="Port of the scratch cluster.")] = 5499,
    name: Annotated[str | None, typer.Option(help="Restore to this named point (default: a fresh one).")] = None,
    repo: Annotated[int | None, typer.Option(help="Repository to restore from (default: pgBackRest's choice).")] = None,
    keep: Annotated[bool, typer.Option(help="Leave the scratch cluster's files for inspection.")] = False,
    source: Source = _DEFAULT_SOURCE,
    references: References = _DEFAULT_REFERENCES,
    stanza: Stanza = "shipyard",
    config: Config = None,
    pg_bin: PgBin = Path("/usr/lib/postgresql/15/bin"),
) -> None:
    """Restore into a scratch cluster, compare every table with the source, run pg_amcheck, print RTO and RPO."""
    pgbackrest = PgBackRest(stanza=stanza, config=config, pg_bin=pg_bin)
    target = DrillTarget(name=name, references=references, repo=repo)
    settings = _settings()
    command = "shipyard ops restore-drill"
    try:
        result = run_drill(pgbackrest, source, scratch_dir, scratch_port, target, progress=typer.echo, keep=keep)
    except DrillError as error:
        record_drill(settings, repo, command, result=None, error=str(error))
        raise _fail(error) from None
    record_drill(settings, repo, command, result=result)
    if result.mismatches:
        raise typer.Exit(code=1)


@ops_app.command("restore-point")
def restore_point(
    name: Annotated[str, typer.Argument(help="Name of the restore point, e.g. before-2026-12-migration.")],
    source: Source = _DEFAULT_SOURCE,
    references: References = _DEFAULT_REFERENCES,
    pg_bin: PgBin = Path("/usr/lib/postgresql/15/bin"),
) -> None:
    """Create a named restore point and save the database's row counts and checksums at it for the drill."""
    pgbackrest = PgBackRest(pg_bin=pg_bin)
    try:
        reference = create_restore_point(pgbackrest.tool("psql"), source, name)
    except DrillError as error:
        raise _fail(error) from None
    path = reference.save(references)
    typer.echo(f"restore point {name} at LSN {reference.lsn} ({reference.time}); reference in {path}")


@ops_app.command("verify")
def verify(
    repo: Annotated[int | None, typer.Option(help="Repository to verify (default: all).")] = None,
    stanza: Stanza = "shipyard",
    config: Config = None,
) -> None:
    """Run `pgbackrest verify` and fail on any error it prints (2.45 exits 0 on a corrupt repository)."""
    try:
        output = verify_repository(PgBackRest(stanza=stanza, config=config), repo)
    except DrillError as error:
        raise _fail(error) from None
    typer.echo(output.rstrip())


@ops_app.command("record-backups")
def record_backups_command(stanza: Stanza = "shipyard", config: Config = None) -> None:
    """Record each repository's newest backup (`pgbackrest info`) for /metrics, the audit log and the logs."""
    try:
        backups = record_backups(_settings(), PgBackRest(stanza=stanza, config=config), "shipyard ops record-backups")
    except DrillError as error:
        raise _fail(error) from None
    for backup in backups:
        typer.echo(f"{backup.target}: {backup.backup_type} backup {backup.label} ({backup.size_bytes} bytes)")
