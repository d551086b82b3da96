"""The systemd units: systemd's own analysers, and the directives the topology issue requires."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.binaries import require_binary
from tests.fixtures.units import unit_directives

REPO = Path(__file__).resolve().parents[2]
UNITS_DIR = REPO / "deploy" / "systemd"
# The virtualenv units; shipyard-web-container.service (the image under podman) has its own tests.
UNITS = sorted(path.name for path in UNITS_DIR.glob("*.service") if not path.stem.endswith("-container"))
APP_UNITS = [unit for unit in UNITS if unit.startswith("shipyard-")]
# pgBackRest's backups and checks run as postgres, the owner of PGDATA and the repository.
BACKUP_UNITS = ["pgbackrest-backup@.service", "pgbackrest-verify.service"]
TIMERS = sorted(path.name for path in UNITS_DIR.glob("*.timer"))
LONG_RUNNING = ["shipyard-scheduler.service", "shipyard-web.service", "shipyard-worker.service"]
# `--threshold` takes the score times ten; the gate is 1.5 and its target about 1.1.
THRESHOLD = 15
EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+)")

HARDENING = {
    "UMask": "0077",
    "NoNewPrivileges": "yes",
    "CapabilityBoundingSet": "",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "PrivateUsers": "yes",
    "PrivateMounts": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "ProtectProc": "invisible",
    "ProcSubset": "pid",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "ProtectClock": "yes",
    "ProtectHostname": "yes",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "RemoveIPC": "yes",
    "DevicePolicy": "closed",
    "SystemCallArchitectures": "native",
    "SystemCallErrorNumber": "EPERM",
}


@pytest.fixture(autouse=True, scope="module")
def _systemd_analyze() -> None:
    require_binary("systemd-analyze", "systemd")


def _values(unit: str, key: str) -> list[str]:
    return [value for name, value in unit_directives(UNITS_DIR / unit) if name == key]


def _security(unit_path: Path) -> tuple[int, str]:
    result = subprocess.run(  # noqa: S603 - fixed binary and arguments
        ["systemd-analyze", "security", "--offline=yes", f"--threshold={THRESHOLD}", str(unit_path)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return result.returncode, result.stdout + result.stderr


def _verify(root: Path, units: list[str]) -> str:
    result = subprocess.run(  # noqa: S603 - fixed binary and arguments
        ["systemd-analyze", "verify", f"--root={root}", *units],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return (result.stdout + result.stderr).strip()


@pytest.fixture
def unit_root(tmp_path: Path) -> Path:
    """A root for `systemd-analyze verify --root`: the host's system units, /bin/kill, our units, our binaries.

    verify resolves ExecStart= inside the root, where /opt/shipyard/current/venv/bin/* (and the
    slot `full`'s, for the templates) must exist and be executable; the real ones exist only on a
    deployed host.
    """
    shutil.copytree("/usr/lib/systemd/system", tmp_path / "usr/lib/systemd/system", symlinks=True)
    (tmp_path / "usr/bin").mkdir(parents=True)
    shutil.copy2(shutil.which("kill") or "/usr/bin/kill", tmp_path / "usr/bin/kill")
    (tmp_path / "bin").symlink_to("usr/bin")
    for release in ("current", "slots/full"):
        venv = tmp_path / "opt/shipyard" / release / "venv/bin"
        venv.mkdir(parents=True)
        for name in ("gunicorn", "shipyard"):
            (venv / name).write_text("#!/bin/sh\n")
            (venv / name).chmod(0o755)
    (tmp_path / "usr/bin/pgbackrest").write_text("#!/bin/sh\n")
    (tmp_path / "usr/bin/pgbackrest").chmod(0o755)
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in UNITS + TIMERS:
        shutil.copy2(UNITS_DIR / unit, units / unit)
    return tmp_path


def test_the_four_units_and_the_two_deploy_templates_exist() -> None:
    assert APP_UNITS == [
        "shipyard-migrate.service",
        "shipyard-migrate@.service",
        "shipyard-scheduler.service",
        "shipyard-web.service",
        "shipyard-web@.service",
        "shipyard-worker.service",
    ]


@pytest.mark.parametrize("unit", UNITS)
def test_security_exposure_is_below_the_gate(unit: str) -> None:
    code, output = _security(UNITS_DIR / unit)
    match = EXPOSURE.search(output)
    assert match, output
    print(f"{unit}: exposure {match.group(1)}")  # noqa: T201 - the closing note quotes these
    assert code == 0, output
    assert float(match.group(1)) <= 1.2


def test_security_gate_fails_a_plain_unit(tmp_path: Path) -> None:
    plain = tmp_path / "plain.service"
    plain.write_text("[Service]\nExecStart=/usr/bin/true\n")
    code, output = _security(plain)
    assert code != 0, output


def test_verify_prints_nothing_for_our_units(unit_root: Path) -> None:
    instances = [unit.replace("@.", "@full.") for unit in UNITS]
    assert _verify(unit_root, instances + TIMERS) == ""


def test_verify_reports_an_unknown_key_that_its_exit_code_hides(unit_root: Path) -> None:
    unit = unit_root / "etc/systemd/system/shipyard-web.service"
    unit.write_text(unit.read_text().replace("[Service]\n", "[Service]\nProtectEverything=yes\n"))
    assert "Unknown key" in _verify(unit_root, ["shipyard-web.service"])


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_carries_the_full_hardening_list(unit: str) -> None:
    directives = dict(unit_directives(UNITS_DIR / unit))
    missing = {key: value for key, value in HARDENING.items() if directives.get(key) != value}
    assert missing == {}
    assert _values(unit, "SystemCallFilter")[:2] == ["@system-service", "~@privileged @resources"]
    if unit in BACKUP_UNITS:
        assert directives["User"] == "postgres"
    else:
        assert directives["User"] == "shipyard"
        assert "/etc/shipyard/env" in _values(unit, "EnvironmentFile")


def test_backup_units_and_their_timers_exist() -> None:
    assert sorted(set(UNITS) - set(APP_UNITS)) == BACKUP_UNITS
    assert TIMERS == ["pgbackrest-backup-diff.timer", "pgbackrest-backup-full.timer", "pgbackrest-verify.timer"]
    full = (UNITS_DIR / "pgbackrest-backup-full.timer").read_text().splitlines()
    assert "Unit=pgbackrest-backup@full.service" in full
    assert "Persistent=true" in full


@pytest.mark.parametrize("unit", LONG_RUNNING)
def test_long_running_units_restart_on_failure_and_wait_for_migrations(unit: str) -> None:
    directives = dict(unit_directives(UNITS_DIR / unit))
    assert directives["Restart"] == "on-failure"
    assert directives["RuntimeDirectory"].startswith("shipyard")
    unit_section = (UNITS_DIR / unit).read_text()
    assert "Requires=shipyard-migrate.service" in unit_section
    assert re.search(r"^After=.*shipyard-migrate\.service", unit_section, re.MULTILINE)


def test_web_unit_is_notify_with_reload_on_hup_and_the_socket_in_its_runtime_directory() -> None:
    directives = dict(unit_directives(UNITS_DIR / "shipyard-web.service"))
    assert directives["Type"] == "notify"
    assert directives["NotifyAccess"] == "main"
    assert directives["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert directives["RuntimeDirectory"] == "shipyard"
    assert "SHIPYARD_BIND=unix:/run/shipyard/shipyard.sock" in _values("shipyard-web.service", "Environment")
    assert directives["ExecStart"].startswith(
        "/opt/shipyard/current/venv/bin/gunicorn --config /opt/shipyard/current/deploy/"
    )


def test_only_the_migrate_unit_loads_the_ddl_roles_secrets() -> None:
    for unit in UNITS:
        loads = "/etc/shipyard/migrate.env" in _values(unit, "EnvironmentFile")
        assert loads == unit.startswith("shipyard-migrate"), unit
    migrate = dict(unit_directives(UNITS_DIR / "shipyard-migrate.service"))
    assert migrate["Type"] == "oneshot"
    assert migrate["ExecStart"] == "/opt/shipyard/current/venv/bin/shipyard migrate"
    slot = dict(unit_directives(UNITS_DIR / "shipyard-migrate@.service"))
    assert slot["Type"] == "oneshot"
    assert slot["ExecStart"] == "/opt/shipyard/slots/%i/venv/bin/shipyard migrate"


def test_worker_and_scheduler_run_the_cli() -> None:
    # They run the `current` release, so a deploy's restart moves them to the new one.
    assert _values("shipyard-worker.service", "ExecStart") == ["/opt/shipyard/current/venv/bin/shipyard worker"]
    assert _values("shipyard-scheduler.service", "ExecStart") == ["/opt/shipyard/current/venv/bin/shipyard scheduler"]


def test_web_slots_listen_on_their_own_socket_and_keep_the_shared_runtime_directory() -> None:
    directives = dict(unit_directives(UNITS_DIR / "shipyard-web@.service"))
    assert directives["Type"] == "notify"
    assert directives["ExecStart"] == (
        "/opt/shipyard/slots/%i/venv/bin/gunicorn --config /opt/shipyard/slots/%i/deploy/gunicorn.conf.py"
    )
    assert "SHIPYARD_BIND=unix:/run/shipyard/web-%i.sock" in _values("shipyard-web@.service", "Environment")
    # Stopping the old slot must not delete /run/shipyard, where the new slot's socket lives.
    assert directives["RuntimeDirectory"] == "shipyard"
    assert directives["RuntimeDirectoryPreserve"] == "yes"
    assert "Requires" not in directives, "the deploy runs the slot's migrations itself"
