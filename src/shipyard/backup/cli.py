"""The operator's commands: `shipyard backup`, `restore`, `db copy` and `db rebuild-invoice-totals`."""

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


@db_app.command("rebuild-invoice-totals")
def db_rebuild_invoice_totals(
    organization: Annotated[
        list[str] | None, typer.Option("--organization", help="An organisation ID (repeatable); default: every one.")
    ] = None,
) -> None:
    """Recompute the invoice totals the MCP aggregates read from the invoices (decisions/0058).

    For rows written to `invoices` outside the app: a bulk load, a hand edit, or an older release
    writing between migration 0010 and the switch. One short transaction per organisation.
    """
    import asyncio

    from shipyard.invoice_totals import service as invoice_totals
    from shipyard.kit.db import create_database

    async def rebuild(organization_ids: list[str] | None) -> int:
        database = create_database(command_settings())
        try:
            if organization_ids is None:
                async with database.reader() as session:
                    organization_ids = await invoice_totals.organization_ids(session)
            for organization_id in organization_ids:
                async with database.writer() as session:
                    await invoice_totals.rebuild(session, organization_id)
                    await session.commit()
            return len(organization_ids)
        finally:
            await database.dispose()

    rebuilt = asyncio.run(rebuild(organization or None))
    typer.echo(f"rebuilt the invoice totals of {rebuilt} organisation(s)")


def add_commands(app: typer.Typer) -> None:
    """Attach the backup commands to the `shipyard` app."""
    app.command("backup")(backup)
    app.command("restore")(restore)
    app.add_typer(db_app, name="db")
