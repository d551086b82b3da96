"""A second run of site.yml changes nothing on any host."""

from __future__ import annotations

import pytest

from tests.deploy.cluster.conftest import Cluster

pytestmark = pytest.mark.cluster


def test_the_second_run_of_site_yml_changes_nothing(hardened: Cluster) -> None:
    second = hardened.run_playbook("site.yml")
    hardened.seconds["second apply"] = second.seconds
    assert second.returncode == 0, second.failure_summary()
    assert set(second.recap) == {host.name for host in hardened.hosts}
    changed = {host: counts["changed"] for host, counts in second.recap.items() if counts["changed"]}
    assert not changed, f"the second run changed something: {changed}"
