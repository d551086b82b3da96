"""Architecture rules, checked on the syntax tree of every module under src/shipyard (as Polar does).

Layering: endpoints parse and call services; services hold the business rules and never commit;
repositories hold every query, whatever module would otherwise run it; `kit/` knows no domain. The
request (or job) boundary commits.
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
# Modules that build or run SQL without being a `repository.py`: the plumbing below the domains, where
# the statement is not a domain query. Each says why. Keep this list short.
SQL_ALLOWED = {
    "kit/db.py": "the engine's connection check (SELECT 1) and per-connection settings",
    "kit/direct_reads.py": "runs a repository's statement on a raw connection; it builds none itself",
    "kit/idempotency.py": "the Idempotency-Key store, request plumbing under every domain",
    "mcp/calls.py": "marks the MCP call's transaction READ ONLY; no query",
    "backup/db_copy.py": "copies every table, whatever its model, from SQLite to PostgreSQL",
    "backup/sqlite_file.py": "sqlite3's own locking and integrity statements on the database file",
    "ops/secrets_cli.py": "an operator command that re-encrypts every stored secret, table by table",
}
# Schema declarations (server defaults are `text(...)`) and migrations are SQL by nature.
SQL_ALLOWED_FOLDERS = ("models/", "migrations/")
REPOSITORY_IMPORTS_ALLOWED = {
    # List filters are value objects defined in repository modules. Fix: define them in schemas.py
    # (or a filters.py) and import them from there in both the endpoints and the repository.
    ("customers/endpoints.py", "CustomerFilter"),
    ("invoices/endpoints.py", "InvoiceFilter"),
    ("audit/endpoints.py", "AuditFilter"),
}


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


def _runs_sql(path: str, tree: ast.Module) -> list[str]:
    """Where a module builds SQL (`select`, `text`, ... from sqlalchemy) or hands a statement to a session."""
    aliases = {"sqlalchemy", "sa"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {alias.asname or alias.name for alias in node.names if alias.name.startswith("sqlalchemy")}
    found = [
        f"{path}: imports {name} from {module}"
        for module, name in _imports(tree)
        if module.startswith("sqlalchemy") and name in SQL_BUILDERS
    ]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        base = node.func.value
        if isinstance(base, ast.Name) and base.id in aliases and node.func.attr in SQL_BUILDERS:
            found.append(f"{path}:{node.lineno}: {base.id}.{node.func.attr}(...)")
        # A statement is always passed; a Redis pipeline's argument-less `execute()` is not SQL.
        elif node.func.attr in SQL_EXECUTION and node.args:
            found.append(f"{path}:{node.lineno}: .{node.func.attr}(...)")
    return found


def sql_outside_repositories(modules: Modules) -> list[str]:
    """SQL is built and run in repositories (`repository.py`), whatever the module that needs it is called."""
    return [
        offence
        for path, tree in modules.items()
        if Path(path).name != "repository.py" and path not in SQL_ALLOWED and not path.startswith(SQL_ALLOWED_FOLDERS)
        for offence in _runs_sql(path, tree)
    ]


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
    sql_outside_repositories,
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
    sql_outside_repositories: (
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


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("auth/sessions/database_store.py", "from sqlalchemy import delete\n"),
        ("orders/pages.py", "async def f(session, statement):\n    return await session.scalars(statement)\n"),
        ("orders/helpers/totals.py", "import sqlalchemy\nstatement = sqlalchemy.text('SELECT 1')\n"),
    ],
)
def test_sql_is_flagged_in_a_module_of_any_name(path: str, source: str) -> None:
    assert sql_outside_repositories({path: ast.parse(source)}) != []


def test_sql_is_allowed_in_repositories_and_the_listed_plumbing() -> None:
    source = ast.parse("from sqlalchemy import select\nasync def f(session):\n    await session.execute(select(1))\n")
    allowed = ["orders/repository.py", "auth/sessions/repository.py", "kit/idempotency.py", "migrations/versions/x.py"]
    assert sql_outside_repositories(dict.fromkeys(allowed, source)) == []
    # A Redis pipeline's execute() takes no statement.
    assert (
        sql_outside_repositories({"orders/cache.py": ast.parse("async def f(pipe):\n    await pipe.execute()\n")}) == []
    )


def test_every_allowed_sql_module_exists_and_runs_sql() -> None:
    modules = _modules()
    assert {path: bool(_runs_sql(path, modules[path])) for path in SQL_ALLOWED if path in modules} == dict.fromkeys(
        SQL_ALLOWED, True
    )


def test_no_module_is_over_400_lines() -> None:
    sizes = {path: len((SRC / path).read_text().splitlines()) for path in _modules()}
    assert {path: lines for path, lines in sizes.items() if lines > MAX_MODULE_LINES} == {}
