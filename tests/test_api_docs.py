"""The API reference keeps up with the code: every error code and every scope the code defines is documented.

The codes are read from the source itself (every problem raised or rendered with a literal status and a
code, whether the code is written in place or held by a module constant), and the scopes from the scope
registry, so a new code or scope fails this test until docs/api/errors.md or docs/api/scopes.md names it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from shipyard.identity.scopes import ROLE_SCOPES, SCOPES
from shipyard.kit import problems
from shipyard.models import Role

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src" / "shipyard"
DOCS = ROOT / "docs" / "api"
CODE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+|[a-z]+")
# A table row that documents a code: `| 409 | `slug_taken` | ...`.
DOCUMENTED_CODE = re.compile(r"^\|\s*\d{3}\s*\|\s*`([a-z0-9_]+)`", re.MULTILINE)
# The framework's fallbacks are named in prose ("`forbidden` (403)"), not in a table row.
FALLBACK_CODE = re.compile(r"`([a-z_]+)`\s*\((\d{3})\)")


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level `NAME = "text"` (or `NAME: Final = "text"`) assignments."""
    constants: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, value = [node.target], node.value
        else:
            continue
        if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
            continue
        constants.update({target.id: value.value for target in targets if isinstance(target, ast.Name)})
    return constants


def _status(node: ast.expr) -> int | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    return None


def problem_codes_in_source() -> dict[str, set[str]]:
    """Every code passed next to a literal 4xx/5xx status (`ProblemError(409, "slug_taken", ...)`, `problem_body`,
    a subclass's `super().__init__`), with the files that use it."""
    found: dict[str, set[str]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _string_constants(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            status, code_node = _status(node.args[0]), node.args[1]
            if status is None or not 400 <= status <= 599:
                continue
            code = code_node.value if isinstance(code_node, ast.Constant) else None
            if isinstance(code_node, ast.Name):
                code = constants.get(code_node.id)
            if isinstance(code, str) and CODE.fullmatch(code):
                found.setdefault(code, set()).add(str(path.relative_to(ROOT)))
    return found


def documented_codes() -> set[str]:
    """Codes with a row in docs/api/errors.md, and the fallbacks it names in prose."""
    text = (DOCS / "errors.md").read_text(encoding="utf-8")
    return set(DOCUMENTED_CODE.findall(text)) | {code for code, _status in FALLBACK_CODE.findall(text)}


def test_the_source_scan_finds_the_codes_it_should() -> None:
    # Guards the scan itself: a literal code, one held by a constant, one raised by a subclass.
    found = problem_codes_in_source()
    assert {"slug_taken", "session_expired", "resource_not_found", "internal_error"} <= found.keys()


def test_every_error_code_in_the_code_is_in_the_errors_reference() -> None:
    codes = problem_codes_in_source()
    # The framework's own errors are mapped in a table of the problems module, not raised with a status.
    framework = set(problems._HTTP_CODES.values())
    missing = {code: sorted(codes[code]) for code in sorted(codes.keys() - documented_codes())}
    missing |= {code: ["src/shipyard/kit/problems.py"] for code in sorted(framework - documented_codes())}
    assert missing == {}, "add these codes to docs/api/errors.md"


def test_every_scope_is_in_the_scopes_reference_with_the_roles_that_grant_it() -> None:
    text = (DOCS / "scopes.md").read_text(encoding="utf-8")
    described = set(re.findall(r"^\|\s*`([a-z]+:[a-z]+)`\s*\|\s*[A-Z]", text, re.MULTILINE))
    assert set(SCOPES) - described == set(), "describe these scopes in docs/api/scopes.md"

    roles = [Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER]
    granted: dict[str, set[Role]] = {}
    for scope, marks in re.findall(r"^\|\s*`([a-z]+:[a-z]+)`\s*((?:\|[^|\n]*){4})\|\s*$", text, re.MULTILINE):
        cells = [cell.strip() for cell in marks.split("|")[1:]]
        granted[scope] = {role for role, cell in zip(roles, cells, strict=True) if cell == "✓"}
    expected = {scope: {role for role in roles if scope in ROLE_SCOPES[role]} for scope in SCOPES}
    assert granted == expected, "the role table of docs/api/scopes.md differs from ROLE_SCOPES"
