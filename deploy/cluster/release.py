"""The release the app role installs, built on the controller before ``site.yml`` runs.

Ansible runs inside the cluster's namespace, which has no network, so ``build-release.sh`` (which
downloads the locked wheels from PyPI) runs here first, outside it. The release is keyed on what
goes into it, the lockfile and the source tree, not on the commit: a docs-only commit reuses it.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from deploy.cluster.commands import run
from deploy.cluster.config import ANSIBLE_DIR, CACHE_DIR, REPO

RELEASE_CACHE = CACHE_DIR / "releases"
BUILD_TIMEOUT_SECONDS = 900
# Everything the release tarball is made from (build-release.sh packs the wheel, the locked
# dependencies and the gunicorn config).
RELEASE_INPUTS = ("pyproject.toml", "uv.lock", "README.md", "src", "deploy/gunicorn.conf.py")


def _input_files() -> list[str]:
    # Tracked and untracked-but-not-ignored files, so an uncommitted change gets its own release.
    listed = subprocess.run(  # noqa: S603 (fixed argument list)
        ["git", "-C", str(REPO), "ls-files", "--cached", "--others", "--exclude-standard", "-z", "--", *RELEASE_INPUTS],  # noqa: S607 (git from PATH, as make does)
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted({name for name in listed.split("\0") if name and (REPO / name).is_file()})


def release_key() -> str:
    """A short hash of the release's inputs: their paths and contents."""
    digest = hashlib.sha256()
    for name in _input_files():
        digest.update(name.encode() + b"\0" + (REPO / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def ensure_release() -> tuple[str, Path]:
    """Build the release for the current inputs unless cached; return its id and the cache directory."""
    key = release_key()
    tarball = RELEASE_CACHE / key / "release.tar.gz"
    if not tarball.exists():
        # build-release.sh writes the tarball under a temporary name and renames it when complete.
        run(
            [str(ANSIBLE_DIR / "build-release.sh"), str(REPO), str(tarball.parent)],
            what=f"building the release {key} (needs PyPI)",
            timeout=BUILD_TIMEOUT_SECONDS,
        )
    return key, RELEASE_CACHE


def variant(suffix: str, *, gunicorn_addition: str = "") -> str:
    """A second release id for the same build (the rolling deploy's tests), cached beside it.

    The tarball is the current release's, unpacked on the hosts under ``<key>-<suffix>``; with
    ``gunicorn_addition`` its ``deploy/gunicorn.conf.py`` ends with that code (a release that
    starts but is broken). Built once per key and suffix, in seconds: no download.
    """
    key, cache = ensure_release()
    release = f"{key}-{suffix}"
    tarball = cache / release / "release.tar.gz"
    if tarball.exists():
        return release
    tarball.parent.mkdir(parents=True, exist_ok=True)
    source = cache / key / "release.tar.gz"
    if not gunicorn_addition:
        shutil.copyfile(source, tarball.with_suffix(".part"))
    else:
        with tempfile.TemporaryDirectory() as work:
            unpacked = Path(work)
            with tarfile.open(source) as archive:
                archive.extractall(unpacked, filter="data")
            config = unpacked / "deploy" / "gunicorn.conf.py"
            config.write_text(config.read_text(encoding="utf-8") + "\n" + gunicorn_addition + "\n", encoding="utf-8")
            # The archive's root becomes the release directory: the service user must enter it.
            unpacked.chmod(0o755)
            with tarfile.open(tarball.with_suffix(".part"), "w:gz") as archive:
                archive.add(unpacked, arcname=".")
    tarball.with_suffix(".part").rename(tarball)
    return release
