"""The operator's commands: `shipyard backup`, `shipyard restore` and `shipyard db copy`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from shipyard.backup.age_keys import BackupError
from shipyard.kit.cli_transaction import command_settings, refuse

db_app = typer.Typer(help="Move the database.", no_args_is_help=True)


def _progress(label: str) -> Callable[[int, int], None]:
    shown = {"percent": -1}

    def report(done: int, total: int) -> None:
        percent = 100 * done // total if total else 100
        if percent // 10 != shown["percent"] // 10 or done == total:
            shown["percent"] = percent
            typer.echo(f"{label}: {done}/{total} pages ({percent}%)", err=True)

    return report


def backup(
    path: Annotated[
        Path | None, typer.Argument(help="Archive file or directory (default: SHIPYARD_BACKUP_DIR).")
    ] = None,
) -> None:
    """Back the SQLite database up online, encrypted with age to SHIPYARD_BACKUP_AGE_RECIPIENT."""
    from shipyard.backup.operations import run_backup

    settings = command_settings()
    try:
        result = run_backup(settings, path, "shipyard backup", _progress("backup"))
    except BackupError as exc:
        raise refuse(str(exc)) from None
    typer.echo(f"backup written to {result.path} ({result.size_bytes} bytes, {result.duration_s:.1f} s)")


def restore(
    path: Annotated[Path, typer.Argument(help="The .db.age archive to restore.")],
) -> None:
    """Restore a backup over the SQLite database (stop Shipyard first); the old file is kept aside."""
    from shipyard.backup.operations import run_restore

    settings = command_settings()
    try:
        result = run_restore(settings, path, "shipyard restore")
    except BackupError as exc:
        raise refuse(str(exc)) from None
    aside = f"; the previous database is kept at {result.kept_aside}" if result.kept_aside else ""
    typer.echo(f"restored {path} (schema revision {result.revision}) to {result.database}{aside}")


@db_app.command("copy")
def db_copy(
    to: Annotated[str, typer.Option("--to", help="Target: postgresql+asyncpg://user:password@host/db (DDL rights).")],
    force: Annotated[bool, typer.Option(help="Replace the rows of a target that is not empty.")] = False,
) -> None:
    """Copy the SQLite database into PostgreSQL: schema by migrations, COPY per table, verified, all or nothing."""
    from shipyard.backup.copy_operation import run_copy

    settings = command_settings()
    try:
        result = run_copy(settings, to, force=force, report=lambda line: typer.echo(line, err=True))
    except BackupError as exc:
        raise refuse(str(exc)) from None
    typer.echo(
        f"copied {result.total_rows} rows in {len(result.rows)} tables (schema revision {result.revision})"
        f" in {result.duration_s:.1f} s; every table verified. Point DATABASE_URL at the target next."
    )


def add_commands(app: typer.Typer) -> None:
    """Attach the backup commands to the `shipyard` app."""
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.add_typer(db_app, name="db")
