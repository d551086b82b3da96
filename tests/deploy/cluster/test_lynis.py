"""Lynis inside one hardened host: its hardening index must not fall below the recorded number."""

from __future__ import annotations

import re

import pytest

from deploy.cluster.config import ANSIBLE_DIR, STATE_DIR
from tests.deploy.cluster.conftest import Cluster

pytestmark = pytest.mark.cluster

# deploy/ansible/README.md records the number, on a line such as "Lynis hardening index: 63".
RECORDED = re.compile(r"lynis hardening index\D{0,20}(\d+)", re.IGNORECASE)
MEASURED = re.compile(r"^hardening_index=(\d+)$", re.MULTILINE)


def test_lynis_hardening_index_is_not_below_the_recorded_one(hardened: Cluster) -> None:
    host = hardened.host("db")
    audit = hardened.ssh(
        host,
        "sudo lynis audit system --quick --no-colors --no-log --report-file /tmp/lynis-report.dat >/dev/null 2>&1;"
        " sudo cat /tmp/lynis-report.dat",
        timeout=600,
    )
    measured = MEASURED.search(audit.stdout)
    assert measured, f"lynis wrote no hardening index: {audit.stderr[-500:]}"
    index = int(measured[1])
    # Kept next to the run's logs, so the number can be copied into the README.
    (STATE_DIR / "lynis-hardening-index").write_text(f"{index}\n", encoding="utf-8")
    readme = ANSIBLE_DIR / "README.md"
    recorded = RECORDED.search(readme.read_text(encoding="utf-8")) if readme.exists() else None
    assert recorded, f"{readme} must record the number, e.g. 'Lynis hardening index: {index}'"
    assert index >= int(recorded[1]), f"lynis hardening index fell to {index} from the recorded {recorded[1]}"
