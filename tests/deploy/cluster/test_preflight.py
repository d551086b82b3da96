"""The harness's own rules, without starting anything: the root's cache key and the one-line refusals."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from deploy.cluster import cluster, release, root
from deploy.cluster.config import ClusterError, host_named


def test_the_root_key_follows_the_package_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    packages = tmp_path / "packages.txt"
    packages.write_text("# comment\nsystemd\n\nopenssh-server  # why\n", encoding="utf-8")
    monkeypatch.setattr(root, "PACKAGES_FILE", packages)
    assert root.package_names() == ["systemd", "openssh-server"]
    before = root.root_key()
    packages.write_text("openssh-server\nsystemd\n# a comment changes nothing\n", encoding="utf-8")
    assert root.root_key() == before
    packages.write_text("openssh-server\nsystemd\ncaddy\n", encoding="utf-8")
    assert root.root_key() != before


def test_the_baked_packages_cover_what_the_roles_need() -> None:
    baked = set(root.package_names())
    assert {"openssh-server", "sudo", "python3", "ufw", "fail2ban", "postgresql-15", "pgbouncer"} <= baked
    assert {"redis-server", "caddy", "lynis", "systemd", "dbus", "python3-venv"} <= baked


def test_without_root_the_cluster_refuses_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster.os, "geteuid", lambda: 1000)
    with pytest.raises(ClusterError, match="needs root") as refused:
        cluster.preflight()
    assert "\n" not in str(refused.value)


def test_a_missing_tool_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster.os, "geteuid", lambda: 0)
    monkeypatch.setattr(cluster.shutil, "which", lambda tool: None if tool == "systemd-nspawn" else "/usr/bin/x")
    with pytest.raises(ClusterError, match=r"needs systemd-nspawn: run `make test-deps`"):
        cluster.preflight()


def test_an_unknown_host_lists_the_real_ones() -> None:
    with pytest.raises(ClusterError, match="the hosts are edge, app1, app2, db, cache, identity"):
        host_named("web")


def test_the_release_key_follows_its_inputs_not_the_docs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for command in (["init", "-q"], ["config", "user.email", "t@example.test"], ["config", "user.name", "t"]):
        subprocess.run(["git", "-C", str(tmp_path), *command], check=True)  # noqa: S603, S607 (fixed git calls)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "uv.lock").write_text("lock\n", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "guide.md").write_text("one\n", encoding="utf-8")
    monkeypatch.setattr(release, "REPO", tmp_path)
    before = release.release_key()
    (tmp_path / "docs" / "guide.md").write_text("two\n", encoding="utf-8")
    assert release.release_key() == before
    (tmp_path / "src" / "app.py").write_text("x = 2\n", encoding="utf-8")
    assert release.release_key() != before
    (tmp_path / "src" / "app.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "uv.lock").write_text("lock 2\n", encoding="utf-8")
    assert release.release_key() != before
