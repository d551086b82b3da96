"""Architecture rules, checked on the syntax tree of every module under src/shipyard (as Polar does).

Layering: endpoints parse and call services; services hold the business rules and never commit;
repositories hold every query, whatever module would otherwise run it; `kit/` knows no domain. The
request (or job) boundary commits.

Packages: imports point one way (docs/decisions/0038). From the bottom: settings, kit, models, then
identity and the job toolkit (worker), then the domains, then the composition layer (the top-level
modules such as app.py and cli.py, and every `__main__.py`). Any other folder under src/shipyard is a
domain, so a new one is covered without editing this file. No two packages import each other, not
even through an import inside a function.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "shipyard"
MAX_MODULE_LINES = 400
SQL_BUILDERS = frozenset({"select", "insert", "update", "delete", "text"})
SQL_EXECUTION = frozenset({"execute", "scalars", "scalar", "stream", "stream_scalars"})
DOMAIN_PACKAGES = frozenset(
    {"identity", "auth", "customers", "invoices", "audit", "events", "webhooks", "email", "mcp", "error_reports"}
)

# The package layers below the domains, bottom first; a package may import only packages of a lower
# rank. Packages of the same rank (identity and the job toolkit) do not import each other.
LOWER_LAYERS = {"setting_values": 0, "settings": 1, "kit": 2, "models": 3, "identity": 4, "worker": 4}
DOMAIN_RANK = 5
COMPOSITION_RANK = 6
# What one domain may import from another: its business functions, its API models, the names it publishes.
PUBLIC_MODULES = frozenset({"service", "schemas", "catalogue"})

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
REPOSITORY_IMPORTS_ALLOWED: set[tuple[str, str]] = set()
# Imports of another domain's private module, as (importing file, imported module), each with its reason.
CROSS_DOMAIN_IMPORTS_ALLOWED = {
    # The MCP server records a failed tool call as an error report in a transaction of its own, like the
    # outermost middleware does; the recorder is that entry point. Fix: expose it from error_reports/service.py.
    ("mcp/calls.py", "shipyard.error_reports.recorder"),
    # `shipyard ops pg-backup` writes the same backup state record and audit events as the SQLite backups.
    # Fix: a backup/service.py facade for the state record and the audit helper.
    ("ops/backups_pg_record.py", "shipyard.backup.state"),
    ("ops/backups_pg_record.py", "shipyard.backup.operations"),
    # Switching a browser session's organisation and ending a removed member's sessions go through the
    # session store interface, a leaf of auth (auth/sessions/store.py imports nothing else from auth).
    # Fix: publish the store protocol from auth/sessions/service.py.
    ("members/active_organization.py", "shipyard.auth.sessions"),
    ("members/endpoints.py", "shipyard.auth.sessions"),
    # The UI's page shell answers like the sign-in pages: their Content-Security-Policy, and a signed-out
    # browser refreshed or sent to /login. Fix: move those page helpers into a module both import.
    ("web/shell.py", "shipyard.auth.signin"),
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


def _package(relative: str) -> str:
    """The layer unit a module belongs to: its top-level folder, or the top-level module itself.

    A `__main__.py` is a program's entry point: it belongs to the composition layer, not to its folder.
    """
    parts = Path(relative).parts
    if parts[-1] == "__main__.py" or len(parts) == 1:
        return Path(relative).with_suffix("").as_posix()
    return parts[0]


def _rank(package: str) -> int:
    if package in LOWER_LAYERS:
        return LOWER_LAYERS[package]
    if "/" in package or package in _top_level_modules():
        return COMPOSITION_RANK
    return DOMAIN_RANK


@functools.cache
def _top_level_modules() -> frozenset[str]:
    return frozenset(path.stem for path in SRC.glob("*.py"))


def _shipyard_imports(relative: str, tree: ast.Module) -> Iterator[tuple[str, int]]:
    """Every `shipyard.` module a module imports, anywhere in it (functions, TYPE_CHECKING blocks), with its line.

    `from shipyard.x import y` yields `shipyard.x.y` (y may be a module); relative imports are resolved.
    """
    package = ["shipyard", *Path(relative).parent.parts]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names if alias.name.startswith("shipyard."))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            if base.startswith("shipyard."):
                yield from ((f"{base}.{alias.name}", node.lineno) for alias in node.names)


def _target_package(module: str) -> str:
    """`shipyard.customers.service.x` -> `customers`; a top-level module -> its name."""
    return module.split(".")[1]


def _package_edges(modules: Modules) -> Iterator[tuple[str, str, str, str, int]]:
    """(importing package, imported package, importing file, imported module, line), across packages only."""
    for path, tree in modules.items():
        source = _package(path)
        for module, line in _shipyard_imports(path, tree):
            target = _target_package(module)
            # A `__main__` module is never imported; anything else names its folder or top-level module.
            if target != source:
                yield source, target, path, module, line


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


def packages_importing_upwards(modules: Modules) -> list[str]:
    """Imports point down the layers; a domain uses another domain only through its public modules."""
    offenders = []
    for source, target, path, module, line in _package_edges(modules):
        from_rank, to_rank = _rank(source), _rank(target)
        if from_rank == COMPOSITION_RANK or (to_rank < from_rank and from_rank != DOMAIN_RANK):
            continue
        if to_rank < from_rank:
            continue
        if from_rank == DOMAIN_RANK == to_rank:
            inner = module.split(".")[2:]
            # A domain's public modules, or those of one of its subpackages (auth/sessions/service.py).
            if any(part in PUBLIC_MODULES or part.endswith("_service") for part in inner[:2]):
                continue
            if (path, ".".join(module.split(".")[:3])) in CROSS_DOMAIN_IMPORTS_ALLOWED:
                continue
            offenders.append(f"{path}:{line}: {module} is private to the {target} domain")
            continue
        offenders.append(f"{path}:{line}: {source} (layer {from_rank}) imports {module} (layer {to_rank})")
    return offenders


def package_cycles(modules: Modules) -> list[str]:
    """No two packages depend on each other, directly or round a longer loop (imports inside functions count)."""
    graph: dict[str, set[str]] = {}
    for source, target, *_ in _package_edges(modules):
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    return [" -> ".join([*component, component[0]]) for component in _strongly_connected(graph) if len(component) > 1]


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the graph's strongly connected components, each sorted."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = lowest[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                lowest[node] = min(lowest[node], lowest[successor])
            elif successor in on_stack:
                lowest[node] = min(lowest[node], index[successor])
        if lowest[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


RULES = [
    commits_outside_the_boundary,
    base_http_middleware,
    sql_outside_repositories,
    endpoints_using_repositories,
    repositories_reaching_up,
    services_knowing_http,
    kit_importing_domains,
    legacy_httpx_imports,
    packages_importing_upwards,
    package_cycles,
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
    # `orders` is no package of today's tree: a new domain is held to the layers without editing this file.
    packages_importing_upwards: ("orders/service.py", "def f():\n    from shipyard.app import create_app\n"),
    package_cycles: ("kit/helpers.py", "def f():\n    from shipyard.worker import dispatch\n"),
}


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.__name__)
def test_rule_flags_a_violation(rule: Callable[[Modules], list[str]]) -> None:
    path, source = VIOLATIONS[rule]
    # The cycle rule needs the other half of the loop: a worker module that imports kit.
    other_half = {"worker/dispatch.py": ast.parse("from shipyard.kit import context\n")}
    assert rule({path: ast.parse(source), **other_half}) != []
    assert rule({path: ast.parse("x = 1\n"), **other_half}) == []


# Synthetic trees for the package rules: each line is a module and what it imports.
LAYER_CASES = {
    "a domain importing a composition module": ({"orders/service.py": "import shipyard.cli\n"}, True),
    "kit importing a domain inside a function": ({"kit/x.py": "def f():\n    import shipyard.orders.service\n"}, True),
    "models importing identity": ({"models/x.py": "from shipyard.identity import principal\n"}, True),
    "identity importing the job toolkit": ({"identity/x.py": "from shipyard.worker import dispatch\n"}, True),
    "a domain importing another's repository": ({"orders/service.py": "from shipyard.carts import repository\n"}, True),
    "a domain importing another's repository module": (
        {"orders/x.py": "from shipyard.carts.repository import f\n"},
        True,
    ),
    "a relative import of another domain's tasks": ({"orders/x.py": "from ..carts.tasks import f\n"}, True),
    "a domain importing another's service": ({"orders/service.py": "from shipyard.carts import service\n"}, False),
    "a domain importing another's schemas": ({"orders/x.py": "from shipyard.carts.schemas import Cart\n"}, False),
    "a domain importing the lower layers": (
        {"orders/x.py": "import shipyard.settings\nfrom shipyard.kit import db\nfrom shipyard.worker import tasks\n"},
        False,
    ),
    "the composition layer importing anything": ({"app.py": "from shipyard.carts.repository import f\n"}, False),
    "an entry point importing the composition layer": ({"orders/__main__.py": "from shipyard.cli import app\n"}, False),
}


@pytest.mark.parametrize("case", LAYER_CASES, ids=str)
def test_the_layer_rule_on_synthetic_trees(case: str) -> None:
    sources, breaks = LAYER_CASES[case]
    offenders = packages_importing_upwards({path: ast.parse(source) for path, source in sources.items()})
    assert bool(offenders) is breaks, offenders


def test_the_cycle_rule_sees_loops_of_any_length_and_imports_anywhere() -> None:
    tree = {
        "orders/service.py": "from shipyard.carts import service\n",
        "carts/service.py": "import typing\nif typing.TYPE_CHECKING:\n    from shipyard.stock import service\n",
        "stock/service.py": "def f():\n    from shipyard.orders import service\n",
    }
    assert package_cycles({path: ast.parse(source) for path, source in tree.items()}) == [
        "carts -> orders -> stock -> carts"
    ]
    del tree["stock/service.py"]
    assert package_cycles({path: ast.parse(source) for path, source in tree.items()}) == []


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
