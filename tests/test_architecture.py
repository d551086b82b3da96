"""Architecture rules, checked on the syntax tree of every module under src/shipyard (as Polar does).

Layering: endpoints parse and call services; services hold the business rules and never commit;
repositories hold every query; `kit/` knows no domain. The request (or job) boundary commits.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "shipyard"
MAX_MODULE_LINES = 400
SQL_BUILDERS = frozenset({"select", "insert", "update", "delete", "text"})
SQL_EXECUTION = frozenset({"execute", "scalars", "scalar", "stream", "stream_scalars"})
DOMAIN_PACKAGES = frozenset(
    {"identity", "auth", "customers", "invoices", "audit", "events", "webhooks", "email", "mcp", "error_reports"}
)

# Known exceptions, each reported to the owner of the file with the fix. Keep this list short.
COMMIT_ALLOWED: set[tuple[str, str]] = set()
REPOSITORY_IMPORTS_ALLOWED: set[tuple[str, str]] = set()


Modules = dict[str, ast.Module]


@functools.cache
def _modules() -> Modules:
    return {
        path.relative_to(SRC).as_posix(): ast.parse(path.read_text(), filename=str(path))
        for path in sorted(SRC.rglob("*.py"))
        if "__pycache__" not in path.parts
    }


def _role(relative: str) -> str | None:
    """'endpoints', 'service' or 'repository' for modules (or subpackages) of that name."""
    parts = Path(relative).with_suffix("").parts
    for role in ("endpoints", "service", "repository"):
        # `login_endpoints.py`, `send_endpoint.py`: a package may split its routes by concern.
        if any(part == role or part.endswith((f"_{role}", f"_{role.removesuffix('s')}")) for part in parts):
            return role
    return None


def _of_role(modules: Modules, *roles: str) -> Modules:
    return {path: tree for path, tree in modules.items() if _role(path) in roles}


def _enclosing_functions(tree: ast.Module) -> dict[ast.AST, str]:
    owners: dict[ast.AST, str] = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                owners.setdefault(node, function.name)
    return owners


def _imports(tree: ast.Module) -> list[tuple[str, str]]:
    """(module, name) for every import; `import a.b` gives ('a.b', '')."""
    found: list[tuple[str, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.extend((node.module, alias.name) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend((alias.name, "") for alias in node.names)
    return found


# --- the rules: each returns its violations ------------------------------------------------------


def commits_outside_the_boundary(modules: Modules) -> list[str]:
    """Services and repositories never commit: the request or job boundary does."""
    offenders = []
    for path, tree in _of_role(modules, "service", "repository").items():
        owners = _enclosing_functions(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "commit":
                where = (path, owners.get(node, "<module>"))
                if where not in COMMIT_ALLOWED:
                    offenders.append(f"{path}:{node.lineno} in {where[1]}()")
    return offenders


def base_http_middleware(modules: Modules) -> list[str]:
    """Middleware is pure ASGI: BaseHTTPMiddleware is slow and breaks contextvars."""
    offenders = []
    for path, tree in modules.items():
        for node in ast.walk(tree):
            named = (
                (isinstance(node, ast.Name) and node.id == "BaseHTTPMiddleware")
                or (isinstance(node, ast.Attribute) and node.attr == "BaseHTTPMiddleware")
                or (isinstance(node, ast.alias) and node.name == "BaseHTTPMiddleware")
                or (isinstance(node, ast.ImportFrom) and node.module == "starlette.middleware.base")
            )
            if named:
                offenders.append(f"{path}:{getattr(node, 'lineno', '?')}")
    return offenders


def sql_in_endpoints(modules: Modules) -> list[str]:
    """SQL is built and run in repositories, never in endpoints."""
    offenders = []
    for path, tree in _of_role(modules, "endpoints").items():
        aliases = {"sqlalchemy", "sa"}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                aliases |= {alias.asname or alias.name for alias in node.names if alias.name.startswith("sqlalchemy")}
        offenders += [
            f"{path}: imports {name} from {module}"
            for module, name in _imports(tree)
            if module.startswith("sqlalchemy") and name in SQL_BUILDERS
        ]
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            base = node.func.value
            if isinstance(base, ast.Name) and base.id in aliases and node.func.attr in SQL_BUILDERS:
                offenders.append(f"{path}:{node.lineno}: {base.id}.{node.func.attr}(...)")
            if node.func.attr in SQL_EXECUTION:
                offenders.append(f"{path}:{node.lineno}: .{node.func.attr}(...)")
    return offenders


def endpoints_using_repositories(modules: Modules) -> list[str]:
    """Endpoints call services; only services call repositories."""
    return [
        f"{path}: from {module} import {name}"
        for path, tree in _of_role(modules, "endpoints").items()
        for module, name in _imports(tree)
        if (module.rsplit(".", 1)[-1] == "repository" or name == "repository")
        and (path, name) not in REPOSITORY_IMPORTS_ALLOWED
    ]


def repositories_reaching_up(modules: Modules) -> list[str]:
    """Repositories import neither services nor the web framework."""
    return [
        f"{path}: {module} {name}".strip()
        for path, tree in _of_role(modules, "repository").items()
        for module, name in _imports(tree)
        if module.split(".")[0] in {"fastapi", "starlette"} or "service" in {*module.split("."), name}
    ]


def services_knowing_http(modules: Modules) -> list[str]:
    """Services take (session, principal, ...) and know nothing of HTTP."""
    return [
        f"{path}: {module}"
        for path, tree in _of_role(modules, "service").items()
        for module, _ in _imports(tree)
        if module.split(".")[0] in {"fastapi", "starlette"}
    ]


def kit_importing_domains(modules: Modules) -> list[str]:
    """kit/ holds domain-agnostic building blocks."""
    return [
        f"{path}: {module}"
        for path, tree in modules.items()
        if path.startswith("kit/")
        for module, _ in _imports(tree)
        if module.startswith("shipyard.") and module.split(".")[1] in DOMAIN_PACKAGES
    ]


def legacy_httpx_imports(modules: Modules) -> list[str]:
    """The application's HTTP client is httpx2, which the MCP SDK needs anyway (decision 0033)."""
    return [
        f"{path}: {module}"
        for path, tree in modules.items()
        for module, _ in _imports(tree)
        if module.split(".")[0] == "httpx"
    ]


RULES = [
    commits_outside_the_boundary,
    base_http_middleware,
    sql_in_endpoints,
    endpoints_using_repositories,
    repositories_reaching_up,
    services_knowing_http,
    kit_importing_domains,
    legacy_httpx_imports,
]


def test_the_rules_see_the_whole_tree() -> None:
    modules = _modules()
    assert len(modules) > 40
    assert {"customers/endpoints.py", "customers/service.py", "customers/repository.py"} <= set(modules)
    assert len(_of_role(modules, "endpoints")) >= 4
    assert len(_of_role(modules, "repository")) >= 4


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_source_tree_follows_the_rule(rule: Callable[[Modules], list[str]]) -> None:
    assert rule(_modules()) == [], rule.__doc__


# Each rule, shown a module that breaks it, must say so: a rule that flags nothing proves nothing.
VIOLATIONS = {
    commits_outside_the_boundary: ("orders/service.py", "async def f(session):\n    await session.commit()\n"),
    base_http_middleware: (
        "kit/timing.py",
        "from starlette.middleware.base import BaseHTTPMiddleware\nclass T(BaseHTTPMiddleware): ...\n",
    ),
    sql_in_endpoints: (
        "orders/endpoints.py",
        "import sqlalchemy as sa\nasync def f(session):\n    await session.execute(sa.select(1))\n",
    ),
    endpoints_using_repositories: ("orders/endpoints.py", "from shipyard.orders.repository import get_order\n"),
    repositories_reaching_up: ("orders/repository.py", "from shipyard.orders import service\n"),
    services_knowing_http: ("orders/service.py", "from fastapi import Request\n"),
    kit_importing_domains: ("kit/helpers.py", "from shipyard.customers.service import get\n"),
    legacy_httpx_imports: ("webhooks/delivery.py", "import httpx\n"),
}


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_rule_flags_a_violation(rule: Callable[[Modules], list[str]]) -> None:
    path, source = VIOLATIONS[rule]
    assert rule({path: ast.parse(source)}) != []
    assert rule({path: ast.parse("x = 1\n")}) == []


def test_no_module_is_over_400_lines() -> None:
    sizes = {path: len((SRC / path).read_text().splitlines()) for path in _modules()}
    assert {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}
