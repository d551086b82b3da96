"""The Markdown stays navigable and complete: relative links resolve, and every setting is documented."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from shipyard.settings import Settings
from tests.conftest import REPO

pytestmark = pytest.mark.database_independent

CONFIGURATION = REPO / "docs" / "configuration.md"
FENCED_BLOCK = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\]\(([^)\s]+)\)")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|#)", re.IGNORECASE)


def markdown_files() -> list[Path]:
    """Every Markdown file git knows of (so nothing vendored or generated)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],  # noqa: S607 (git from PATH, as make does)
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [REPO / name for name in listed if (REPO / name).exists()]


def relative_links(markdown: str) -> list[str]:
    """Link targets outside code, without their `#fragment`; external and in-page links left out."""
    prose = INLINE_CODE.sub("", FENCED_BLOCK.sub("", markdown))
    return [target.split("#", 1)[0] for target in LINK.findall(prose) if not EXTERNAL.match(target)]


def test_the_link_finder_sees_relative_links_and_skips_the_rest() -> None:
    markdown = "[a](docs/a.md#x) [b](https://b.example) [c](#c) `[d](no.md)`\n```\n[e](no.md)\n```\n[f](../f/)"
    assert relative_links(markdown) == ["docs/a.md", "../f/"]


def test_every_relative_link_in_the_markdown_resolves() -> None:
    files = markdown_files()
    assert REPO / "README.md" in files
    broken = [
        f"{path.relative_to(REPO)}: {target}"
        for path in files
        for target in relative_links(path.read_text())
        if not (path.parent / target).exists()
    ]
    assert broken == []


def test_every_setting_is_in_the_configuration_reference() -> None:
    documented = CONFIGURATION.read_text()
    missing = [
        f"SHIPYARD_{name.upper()}" for name in Settings.model_fields if f"`SHIPYARD_{name.upper()}`" not in documented
    ]
    assert missing == []


# What a file outside the repository would be cited as: the steering notes' names, a sibling folder,
# an absolute path on a development machine. Built from pieces so that this file does not match itself.
OUTSIDE_REFERENCE = re.compile(
    "|".join(
        (
            r"\.\./" + "shared",
            r"\b" + "TRA" + "PS" + r"\b",
            r"\b" + "CONVENTIONS" + r"\.md",
            r"\b" + "DESIGN" + r"\.md",
            r"(?<![\w.])/" + "work" + r"/",
        )
    )
)


def tracked_text_files() -> list[Path]:
    """Every file git knows of that reads as UTF-8 text (the lockfile and binaries left out)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],  # noqa: S607 (git from PATH, as make does)
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    files = []
    for name in listed:
        path = REPO / name
        if name == "uv.lock" or not path.is_file():
            continue
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        files.append(path)
    return files


def outside_references(text: str) -> list[str]:
    """The lines of `text` that cite a file outside the repository."""
    return [line.strip() for line in text.splitlines() if OUTSIDE_REFERENCE.search(line)]


def test_the_reference_finder_sees_files_outside_the_repository() -> None:
    cited = "see ../" + "shared/notes\nthe " + "TRA" + "PS" + " list\n"
    cited += "CONVENTIONS" + ".md\n" + "DESIGN" + ".md §3\n" + "cd /" + "work/main\n"
    inside = "docs/conventions.md\nsrc/shipyard/kit/db.py\nhttps://example.com/work/x\n./work/tmp\ntraps of PgBouncer\n"
    assert outside_references(cited + inside) == cited.strip().splitlines()


def test_nothing_in_the_repository_cites_a_file_outside_it() -> None:
    files = tracked_text_files()
    assert REPO / "README.md" in files
    found = [
        f"{path.relative_to(REPO)}: {line}" for path in files for line in outside_references(path.read_text("utf-8"))
    ]
    assert found == []
