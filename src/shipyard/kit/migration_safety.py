"""Expand/contract check: refuse a migration that would break the release still serving traffic.

Migrations run before any host switches to the new release, so for the length of a deploy the old
code runs against the new schema. A migration may therefore only *expand*: add tables, nullable
columns, columns with a server default, indexes. It must not drop or rename a table or column,
change a column's type, or add (or tighten to) a NOT NULL column that the old code would not fill.

The check reads each migration's syntax tree; it does not need a database. It looks at every
Alembic operation outside `downgrade()` (a downgrade is a contract by nature and is only run by
hand), through `op` and the `batch_op` of `op.batch_alter_table(...)`, and at the SQL passed to
`op.execute`. A reviewed contract step (the second half of an expand/contract pair, shipped once
no release in service reads the old shape) declares itself with a module-level marker:

    CONTRACT = "drop customers.legacy_name: unread since release 4f2c9e1"

See docs/operations/deploys.md and docs/decisions/0022-migration-safety-check.md.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

CONTRACT_MARKER = "CONTRACT"
DOWNGRADE = "downgrade"
REFUSED_OPERATIONS = {
    "drop_table": "drops a table",
    "drop_column": "drops a column",
    "rename_table": "renames a table",
}
# Connection methods that run SQL outside `op`, e.g. through `op.get_bind()`.
SQL_RUNNERS = frozenset({"execute", "exec_driver_sql"})
# SQL that contracts the schema; DROP CONSTRAINT/INDEX/DEFAULT and REVOKE are not listed on purpose.
REFUSED_SQL = (
    (re.compile(r"\bDROP\s+TABLE\b", re.IGNORECASE), "drops a table"),
    (re.compile(r"\bDROP\s+COLUMN\b", re.IGNORECASE), "drops a column"),
    (re.compile(r"\bRENAME\b", re.IGNORECASE), "renames a table or column"),
    (re.compile(r"\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b", re.IGNORECASE), "changes a column's type"),
    (re.compile(r"\bSET\s+NOT\s+NULL\b", re.IGNORECASE), "makes a column NOT NULL"),
)


@dataclass(frozen=True)
class Violation:
    """One operation the old release could not survive."""

    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        """`0005_x.py:12: drops a column (op.drop_column); ...`, the line a reviewer reads."""
        return f"{self.path.name}:{self.line}: {self.message}"


def check_migrations(directory: Path) -> list[Violation]:
    """The violations of every migration module in `directory` (Alembic's `versions/`)."""
    found: list[Violation] = []
    for path in sorted(directory.glob("*.py")):
        if path.name != "__init__.py":
            found.extend(check_migration(path))
    return found


def check_migration(path: Path) -> list[Violation]:
    """The violations in one migration module; none when it carries a reviewed CONTRACT marker."""
    tree = ast.parse(path.read_text(), filename=str(path))
    constants = _module_strings(tree)
    if _assigns(tree, CONTRACT_MARKER):
        reason = constants.get(CONTRACT_MARKER, "").strip()
        if reason:
            return []
        return [Violation(path, 1, f"{CONTRACT_MARKER} must be a non-empty string that says why the contract is safe")]
    receivers = _operation_receivers(tree)
    found: list[Violation] = []
    for call in _calls_outside_downgrade(tree):
        operation = _operation(call, receivers)
        if operation is not None:
            messages = _judge(call, operation, constants)
        elif _called_name(call) in SQL_RUNNERS:
            messages = _judge_other_sql(call, constants)
        else:
            continue
        found.extend(Violation(path, call.lineno, message) for message in messages)
    return found


def _operation(call: ast.Call, receivers: set[str]) -> str | None:
    """`drop_column` for `op.drop_column(...)` or `batch_op.drop_column(...)`; None for other calls."""
    function = call.func
    if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name) and function.value.id in receivers:
        return function.attr
    return None


def _judge(call: ast.Call, operation: str, constants: dict[str, str]) -> list[str]:
    if operation in REFUSED_OPERATIONS:
        return [f"{REFUSED_OPERATIONS[operation]} (op.{operation})"]
    if operation == "alter_column":
        return _judge_alter_column(call)
    if operation == "add_column":
        return _judge_add_column(call)
    if operation == "execute":
        return _judge_sql(call, constants)
    return []


def _judge_alter_column(call: ast.Call) -> list[str]:
    keywords = {keyword.arg: keyword.value for keyword in call.keywords if keyword.arg}
    found = []
    if "new_column_name" in keywords:
        found.append("renames a column (alter_column new_column_name=)")
    if "type_" in keywords:
        found.append("changes a column's type (alter_column type_=)")
    if _is_false(keywords.get("nullable")):
        found.append("makes a column NOT NULL (alter_column nullable=False)")
    return found


def _judge_add_column(call: ast.Call) -> list[str]:
    for column in (arg for arg in call.args if isinstance(arg, ast.Call) and _called_name(arg) == "Column"):
        keywords = {keyword.arg: keyword.value for keyword in column.keywords if keyword.arg}
        not_null = _is_false(keywords.get("nullable")) or (
            "nullable" not in keywords and _is_true(keywords.get("primary_key"))
        )
        default = keywords.get("server_default")
        if not_null and (default is None or (isinstance(default, ast.Constant) and default.value is None)):
            return ["adds a NOT NULL column without a server default (add_column)"]
    return []


def _judge_sql(call: ast.Call, constants: dict[str, str]) -> list[str]:
    sql = _sql_text(call.args[0], constants) if call.args else None
    if sql is None:
        return ["runs SQL the check cannot read (op.execute with a computed statement)"]
    return [f"{message} (op.execute)" for pattern, message in REFUSED_SQL if pattern.search(sql)]


def _judge_other_sql(call: ast.Call, constants: dict[str, str]) -> list[str]:
    """SQL run on a connection (`op.get_bind().execute(sa.text(...))`): judged when it is readable.

    A computed statement here is usually a data migration (`select`, `update`), so it is not refused.
    """
    sql = _sql_text(call.args[0], constants) if call.args else None
    if sql is None:
        return []
    return [f"{message} ({_called_name(call)})" for pattern, message in REFUSED_SQL if pattern.search(sql)]


def _sql_text(node: ast.expr, constants: dict[str, str]) -> str | None:
    """The SQL of a literal, a module-level string constant, or `sa.text(...)` of either."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    if isinstance(node, ast.Call) and _called_name(node) == "text" and len(node.args) == 1:
        return _sql_text(node.args[0], constants)
    return None


def _module_strings(tree: ast.Module) -> dict[str, str]:
    strings: dict[str, str] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign) and isinstance(statement.value, ast.Constant):
            targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
            for target in targets:
                if isinstance(target, ast.Name) and isinstance(statement.value.value, str):
                    strings[target.id] = statement.value.value
    return strings


def _assigns(tree: ast.Module, name: str) -> bool:
    for statement in tree.body:
        targets = statement.targets if isinstance(statement, ast.Assign) else []
        if isinstance(statement, ast.AnnAssign):
            targets = [statement.target]
        if any(isinstance(target, ast.Name) and target.id == name for target in targets):
            return True
    return False


def _operation_receivers(tree: ast.Module) -> set[str]:
    """`op` (or its import alias) and every `as` name of `op.batch_alter_table(...)`."""
    receivers = {"op"}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "alembic":
            receivers.update(alias.asname for alias in node.names if alias.name == "op" and alias.asname)
    for node in ast.walk(tree):
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if _called_name(item.context_expr) == "batch_alter_table" and isinstance(item.optional_vars, ast.Name):
                    receivers.add(item.optional_vars.id)
    return receivers


def _calls_outside_downgrade(tree: ast.Module) -> list[ast.Call]:
    skipped: set[int] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == DOWNGRADE:
            skipped.update(id(inner) for inner in ast.walk(node))
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and id(node) not in skipped]


def _called_name(node: ast.expr) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return None


def _is_false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True
