"""The release root: names, links, the live slot and pruning."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shipyard.release.layout import ReleaseError, Releases

pytestmark = pytest.mark.database_independent


def _build(releases: Releases, sha: str) -> None:
    path = releases.releases_dir / sha
    path.mkdir(parents=True)
    (path / "RELEASE").write_text(sha)
    # Distinct build times, oldest first, without sleeping.
    stamp = time.time() - 1000 + len(releases.built())
    os.utime(path / "RELEASE", (stamp, stamp))


@pytest.mark.parametrize("name", ["../etc", "ABCDEF1", "abc", "main", "a" * 65])
def test_a_release_is_named_by_a_commit(tmp_path: Path, name: str) -> None:
    with pytest.raises(ReleaseError, match="not a commit SHA"):
        Releases(tmp_path).path(name)


def test_an_unbuilt_release_is_refused(tmp_path: Path) -> None:
    releases = Releases(tmp_path)
    (releases.releases_dir / "abcdef1").mkdir(parents=True)  # a build that never finished
    with pytest.raises(ReleaseError, match="not built"):
        releases.path("abcdef1")


def test_links_are_relative_and_replaced_in_place(tmp_path: Path) -> None:
    releases = Releases(tmp_path)
    _build(releases, "1111111")
    _build(releases, "2222222")
    releases.point("current", "1111111")
    releases.point("current", "2222222")
    releases.point("slots/blue", "1111111")
    assert releases.current() == "2222222"
    assert releases.slot_release("blue") == "1111111"
    assert not (tmp_path / "current").readlink().is_absolute()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["current", "releases", "slots"]


def test_the_idle_slot_is_the_one_not_serving(tmp_path: Path) -> None:
    releases = Releases(tmp_path)
    assert releases.live_slot() is None
    assert releases.idle_slot() == "blue"
    releases.set_live("blue")
    assert releases.idle_slot() == "green"
    releases.set_live("green")
    assert releases.idle_slot() == "blue"


def test_prune_keeps_the_newest_and_every_linked_release(tmp_path: Path) -> None:
    releases = Releases(tmp_path)
    for sha in ("1111111", "2222222", "3333333", "4444444", "5555555"):
        _build(releases, sha)
    releases.point("previous", "1111111")  # old, but a rollback needs it
    releases.point("current", "5555555")

    gone = releases.prune(keep=3)

    assert gone == ["2222222", "3333333"]
    assert releases.built() == ["1111111", "4444444", "5555555"]
