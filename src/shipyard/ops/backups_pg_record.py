"""What the pgBackRest commands leave behind: the state record `/metrics` reads, an audit event and a log line.

The backup itself runs as pgBackRest in a systemd unit; `shipyard ops record-backups` (its
`ExecStartPost`) reads `pgbackrest info --output=json` and records each repository's newest backup
under the target `pgbackrest-repo<N>`. The restore drill records its outcome under the target of the
repository it restored from (`pgbackrest` when pgBackRest chose). See decision 0036.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from shipyard.audit import service as audit
from shipyard.backup import state
from shipyard.backup.operations import audit_quietly, operator
from shipyard.kit.logging import get_logger
from shipyard.ops.backups_pg import DrillResult, PgBackRest
from shipyard.ops.backups_pg_reference import DrillError
from shipyard.settings import Settings

log = get_logger("shipyard.backup")


@dataclass(frozen=True)
class RepositoryBackup:
    """The newest backup pgBackRest lists in one repository."""

    target: str
    label: str
    backup_type: str
    stop_unix: float
    size_bytes: int


def drill_target(repo: int | None) -> str:
    """The `target` label of a drill: the repository restored from, or `pgbackrest` when pgBackRest chose."""
    return f"pgbackrest-repo{repo}" if repo else "pgbackrest"


def newest_backups(info_json: str) -> list[RepositoryBackup]:
    """The newest backup per repository in `pgbackrest info --output=json` (one stanza)."""
    try:
        stanzas = json.loads(info_json)
    except ValueError as error:
        msg = f"pgbackrest info printed no JSON: {info_json.strip()[:200]}"
        raise DrillError(msg) from error
    newest: dict[int, RepositoryBackup] = {}
    for stanza in stanzas if isinstance(stanzas, list) else []:
        for backup in stanza.get("backup", []):
            repo = int(backup["database"]["repo-key"])
            stop = float(backup["timestamp"]["stop"])
            if repo not in newest or stop > newest[repo].stop_unix:
                newest[repo] = RepositoryBackup(
                    target=f"pgbackrest-repo{repo}",
                    label=str(backup["label"]),
                    backup_type=str(backup["type"]),
                    stop_unix=stop,
                    size_bytes=int(backup["info"]["repository"]["delta"]),
                )
    return [newest[repo] for repo in sorted(newest)]


def record_backups(settings: Settings, pgbackrest: PgBackRest, command: str) -> list[RepositoryBackup]:
    """Record each repository's newest backup in the state record, and audit and log it.

    A repository without any backup fails the command: the unit then fails, which the operator sees.
    """
    details: dict[str, Any] = operator(command)
    try:
        backups = newest_backups(pgbackrest.run("--output=json", "info", timeout=300))
        if not backups:
            msg = f"pgbackrest info lists no backup in any repository of stanza {pgbackrest.stanza}"
            raise DrillError(msg)  # noqa: TRY301 - the same refusal path as pgBackRest's own errors
    except DrillError as error:
        log.error("backup_failed", error=str(error), **details)  # noqa: TRY400 - a refusal, no traceback to show
        audit_quietly(settings, "backup.failed", audit.FAILURE, {**details, "error": str(error)})
        raise
    path = state.state_path(settings.data_dir)
    for backup in backups:
        state.record_success(path, backup.target, finished_unix=backup.stop_unix, size_bytes=backup.size_bytes)
        entry = {
            **details,
            "target": backup.target,
            "label": backup.label,
            "type": backup.backup_type,
            "stopped_unix": backup.stop_unix,
            "size_bytes": backup.size_bytes,
        }
        log.info("backup_created", **entry)
        audit_quietly(settings, "backup.created", audit.SUCCESS, entry)
    return backups


def record_drill(
    settings: Settings, repo: int | None, command: str, *, result: DrillResult | None, error: str | None = None
) -> None:
    """Audit and log a drill's outcome; a drill that passed also moves the drill gauge of its target."""
    target = drill_target(repo)
    details: dict[str, Any] = {**operator(command), "target": target}
    if result is not None:
        details.update(
            restore_point=result.restore_point,
            tables=result.tables,
            rows=result.rows,
            rto_seconds=round(result.rto_seconds, 3),
            rpo_seconds=round(result.rpo_seconds, 3),
            rpo_wal_bytes=result.rpo_wal_bytes,
            mismatches=result.mismatches[:20],
        )
    if result is None or result.mismatches:
        details["error"] = error or f"{len(result.mismatches) if result else 0} mismatches"
        log.error("backup_drill_failed", **details)
        audit_quietly(settings, "backup.drill_failed", audit.FAILURE, details)
        return
    state.record_drill_success(state.state_path(settings.data_dir), target, finished_unix=time.time())
    log.info("backup_drill_passed", **details)
    audit_quietly(settings, "backup.drill_passed", audit.SUCCESS, details)
