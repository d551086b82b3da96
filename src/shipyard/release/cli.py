"""`shipyard deploy`, `shipyard rollback`, `shipyard releases` and `shipyard drain` (docs/cli.md)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from shipyard.kit.draining import is_draining, set_draining
from shipyard.release.deploy import Deployer, DeployError
from shipyard.release.layout import SLOTS, ReleaseError, Releases
from shipyard.release.processes import Systemd
from shipyard.settings import Settings

ROOT = typer.Option(envvar="SHIPYARD_RELEASES_ROOT", help="The release root.")
RUN_DIR = typer.Option(help="Where the web instances' sockets live.")


class DrainState(StrEnum):
    """What `shipyard drain` does."""

    ON = "on"
    OFF = "off"
    STATUS = "status"


def _deployer(root: Path, run_dir: Path, keep: int, drain_s: float) -> Deployer:
    return Deployer(Releases(root), Systemd(), run_dir=run_dir, keep=keep, drain_s=drain_s, on_step=_echo_step)


def _echo_step(step: str) -> None:
    typer.echo(f"deploy: {step}", err=True)


def deploy(
    sha: Annotated[str, typer.Argument(help="The commit of a release built under ROOT/releases/.")],
    root: Annotated[Path, ROOT] = Path("/opt/shipyard"),
    run_dir: Annotated[Path, RUN_DIR] = Path("/run/shipyard"),
    keep: Annotated[int, typer.Option(min=2, help="Releases kept on disk, for rollback.")] = 3,
    drain_seconds: Annotated[float, typer.Option(min=0, help="Wait before stopping the old instance.")] = 5.0,
) -> None:
    """Migrate, start SHA beside the serving release, check /ready, switch the edge, drain and stop the old."""
    try:
        slot = _deployer(root, run_dir, keep, drain_seconds).deploy(sha)
    except (DeployError, ReleaseError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"release {sha} serves from web@{slot}")


def rollback(
    root: Annotated[Path, ROOT] = Path("/opt/shipyard"),
    run_dir: Annotated[Path, RUN_DIR] = Path("/run/shipyard"),
    drain_seconds: Annotated[float, typer.Option(min=0, help="Wait before stopping the old instance.")] = 5.0,
) -> None:
    """Return to the previous release, with the same zero-downtime switch and no migration."""
    deployer = _deployer(root, run_dir, keep=3, drain_s=drain_seconds)
    try:
        slot = deployer.rollback()
    except (DeployError, ReleaseError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"release {deployer.releases.current()} serves from web@{slot}")


def releases(root: Annotated[Path, ROOT] = Path("/opt/shipyard")) -> None:
    """Print the releases on disk and what the links name, as JSON."""
    found = Releases(root)
    state = {
        "built": found.built(),
        "current": found.current(),
        "previous": found.previous(),
        "live_slot": found.live_slot(),
        "slots": {slot: found.slot_release(slot) for slot in SLOTS},
    }
    typer.echo(json.dumps(state, indent=2))


def drain(state: Annotated[DrainState, typer.Argument(help="on, off or status.")] = DrainState.STATUS) -> None:
    """Make /ready answer 503 `draining` (on) or not (off), for this host's data directory."""
    data_dir = Settings().data_dir
    if state is not DrainState.STATUS:
        set_draining(data_dir, on=state is DrainState.ON)
    typer.echo("draining" if is_draining(data_dir) else "serving")


def add_commands(app: typer.Typer) -> None:
    """Register the commands on the `shipyard` command."""
    app.command("deploy")(deploy)
    app.command("rollback")(rollback)
    app.command("releases")(releases)
    app.command("drain")(drain)
