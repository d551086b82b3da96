"""The release directory: `releases/<sha>/`, the `current` and `previous` links, the two web slots.

```
<root>/releases/<sha>/      one commit, built once: venv/, deploy/, RELEASE
<root>/current -> releases/<sha>   what the worker and the scheduler run
<root>/previous -> releases/<sha>  where `shipyard rollback` returns
<root>/slots/blue, slots/green     what each web instance runs (shipyard-web@blue, @green)
<root>/live                        the slot Caddy sends traffic to
```

Every link and the `live` file change by rename, so a reader sees the old value or the new one.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

SLOTS = ("blue", "green")
# A commit's abbreviated or full SHA-1 (or SHA-256) in lower case: the only names a release takes.
_SHA = re.compile(r"^[0-9a-f]{7,64}$")


class ReleaseError(RuntimeError):
    """The release root or a release in it is not what a deploy needs."""


@dataclass(frozen=True, slots=True)
class Releases:
    """One release root (`/opt/shipyard` in production, a temporary directory in the tests)."""

    root: Path

    @property
    def releases_dir(self) -> Path:
        """Where the release directories live."""
        return self.root / "releases"

    def path(self, sha: str) -> Path:
        """The directory of release `sha`; ReleaseError when the name is not a SHA or it was never built."""
        if not _SHA.fullmatch(sha):
            msg = f"release {sha!r} is not a commit SHA (7 to 64 lower-case hex digits)"
            raise ReleaseError(msg)
        path = self.releases_dir / sha
        if not (path / "RELEASE").is_file():
            msg = f"release {sha} is not built: {path}/RELEASE does not exist"
            raise ReleaseError(msg)
        return path

    def built(self) -> list[str]:
        """The releases on disk, oldest first (by the time their RELEASE file was written)."""
        if not self.releases_dir.is_dir():
            return []
        found = [entry for entry in self.releases_dir.iterdir() if (entry / "RELEASE").is_file()]
        return [entry.name for entry in sorted(found, key=lambda entry: (entry / "RELEASE").stat().st_mtime)]

    def _target(self, link: Path) -> str | None:
        return link.readlink().name if link.is_symlink() else None

    def current(self) -> str | None:
        """The release the `current` link names."""
        return self._target(self.root / "current")

    def previous(self) -> str | None:
        """The release the `previous` link names (where a rollback goes)."""
        return self._target(self.root / "previous")

    def slot_release(self, slot: str) -> str | None:
        """The release a web slot runs."""
        return self._target(self.root / "slots" / slot)

    def live_slot(self) -> str | None:
        """The slot that serves, or None before the first deploy."""
        live = self.root / "live"
        value = live.read_text().strip() if live.is_file() else ""
        return value if value in SLOTS else None

    def idle_slot(self) -> str:
        """The slot a deploy starts the new release in: the one not serving."""
        live = self.live_slot()
        return SLOTS[1] if live == SLOTS[0] else SLOTS[0]

    def point(self, name: str, sha: str) -> None:
        """Make the link `name` (`current`, `previous`, `slots/blue`...) name release `sha`, atomically."""
        link = self.root / name
        link.parent.mkdir(parents=True, exist_ok=True)
        staged = link.with_name(f".{link.name}.new")
        staged.unlink(missing_ok=True)
        # Relative, so the root can move (a restore, a test's temporary directory).
        staged.symlink_to(os.path.relpath(self.releases_dir / sha, link.parent))
        staged.replace(link)

    def set_live(self, slot: str) -> None:
        """Record the slot Caddy now sends traffic to."""
        staged = self.root / ".live.new"
        staged.write_text(f"{slot}\n")
        staged.replace(self.root / "live")

    def prune(self, keep: int) -> list[str]:
        """Delete the oldest releases beyond `keep`, never one a link names; return what went."""
        named = {self.current(), self.previous(), *(self.slot_release(slot) for slot in SLOTS)}
        built = self.built()
        removable = [sha for sha in built if sha not in named]
        excess = max(0, len(built) - keep)
        gone = removable[:excess]
        for sha in gone:
            shutil.rmtree(self.releases_dir / sha)
        return gone
