"""caddy-shipyard.conf: Debian's caddy.service with our drop-in, as systemd will read the pair."""

from __future__ import annotations

import pwd
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.binaries import require_binary
from tests.fixtures.units import unit_directives

REPO = Path(__file__).resolve().parents[2]
DROP_IN = REPO / "deploy" / "caddy" / "caddy-shipyard.conf"
DEBIAN_UNIT = Path("/usr/lib/systemd/system/caddy.service")
# `--threshold` takes the score times ten; the issue asks for 2.5 or better.
THRESHOLD = 25
EXPOSURE = re.compile(r"Overall exposure level for \S+: (\d+\.\d+)")


@pytest.fixture(autouse=True, scope="module")
def _tools_installed() -> None:
    require_binary("systemd-analyze", "systemd")
    require_binary("caddy", "caddy")


def _root(tmp_path: Path, *, with_drop_in: bool) -> Path:
    """A root holding Debian's caddy.service (and the drop-in where systemd looks for it)."""
    shutil.copytree("/usr/lib/systemd/system", tmp_path / "usr/lib/systemd/system", symlinks=True)
    (tmp_path / "usr/bin").mkdir(parents=True)
    # verify resolves ExecStart= inside the root; a stub stands in for the 40 MB binary.
    (tmp_path / "usr/bin/caddy").write_text("#!/bin/sh\n")
    (tmp_path / "usr/bin/caddy").chmod(0o755)
    (tmp_path / "bin").symlink_to("usr/bin")
    if with_drop_in:
        drop_ins = tmp_path / "etc/systemd/system/caddy.service.d"
        drop_ins.mkdir(parents=True)
        shutil.copy2(DROP_IN, drop_ins / "shipyard.conf")
    return tmp_path


def _analyze(*args: str) -> tuple[int, str]:
    result = subprocess.run(  # noqa: S603 - fixed binary, arguments from this file
        ["systemd-analyze", *args],  # noqa: S607 - Debian's systemd, from PATH
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return result.returncode, result.stdout + result.stderr


def _exposure(root: Path) -> tuple[int, float, str]:
    code, output = _analyze("security", "--offline=yes", f"--threshold={THRESHOLD}", f"--root={root}", "caddy.service")
    match = EXPOSURE.search(output)
    assert match, output
    return code, float(match.group(1)), output


def _values(key: str) -> list[str]:
    return [value for name, value in unit_directives(DROP_IN) if name == key]


def test_debian_unit_alone_fails_the_gate(tmp_path: Path) -> None:
    code, score, output = _exposure(_root(tmp_path, with_drop_in=False))
    assert score > THRESHOLD / 10
    assert code != 0, output


def test_drop_in_brings_caddy_to_the_gate(tmp_path: Path) -> None:
    code, score, output = _exposure(_root(tmp_path, with_drop_in=True))
    print(f"caddy.service with the drop-in: exposure {score}")  # noqa: T201 - the report quotes it
    assert code == 0, output
    assert score <= THRESHOLD / 10


def test_verify_prints_nothing_for_the_unit_with_the_drop_in(tmp_path: Path) -> None:
    code, output = _analyze("verify", f"--root={_root(tmp_path, with_drop_in=True)}", "caddy.service")
    assert (code, output.strip()) == (0, "")


def test_caddy_keeps_what_binding_80_and_443_and_reloading_need() -> None:
    directives = dict(unit_directives(DROP_IN))
    # The privileged ports: the one capability, granted ambiently and kept in the bounding set.
    assert _values("CapabilityBoundingSet") == ["CAP_NET_BIND_SERVICE"]
    assert directives["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    # A capability inside a private user namespace does not count for the host's network namespace.
    assert "PrivateUsers" not in directives
    assert "PrivateNetwork" not in directives
    assert "IPAddressDeny" not in directives
    # Clients, ACME and the admin API that `caddy reload` calls (TCP); the app's socket (unix).
    assert set(directives["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    # Certificates and autosave under /var/lib/caddy, the access log under /var/log/caddy.
    assert directives["ProtectSystem"] == "strict"
    assert directives["StateDirectory"] == "caddy"
    assert directives["LogsDirectory"] == "caddy"
    assert directives["SupplementaryGroups"] == "shipyard-web"


def test_debian_unit_still_names_the_paths_the_drop_in_relies_on() -> None:
    debian = dict(unit_directives(DEBIAN_UNIT))
    assert debian["User"] == "caddy"
    assert debian["ExecReload"].startswith("/usr/bin/caddy reload")
    # StateDirectory=caddy is /var/lib/caddy: it must be the caddy user's home, where Caddy keeps its data.
    assert pwd.getpwnam(debian["User"]).pw_dir == "/var/lib/caddy"
