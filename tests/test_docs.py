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
