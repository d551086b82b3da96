"""The expand/contract check: the shipped migrations pass, and each kind of contract is refused."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipyard.kit.migrate import MIGRATIONS_DIR
from shipyard.kit.migration_safety import check_migration, check_migrations

pytestmark = pytest.mark.database_independent

HEADER = """\
import sqlalchemy as sa
from alembic import op

revision = "0099"
down_revision = "0004"

"""

# Each body contracts the schema in one way; the check must refuse every one.
CONTRACTS = {
    "drop_table": 'op.drop_table("customers")',
    "drop_column": 'op.drop_column("customers", "email")',
    "rename_table": 'op.rename_table("customers", "clients")',
    "rename_column": 'op.alter_column("customers", "email", new_column_name="mail")',
    "change_type": 'op.alter_column("customers", "email", type_=sa.Text())',
    "tighten_to_not_null": 'op.alter_column("customers", "email", nullable=False)',
    "not_null_without_default": 'op.add_column("customers", sa.Column("tier", sa.String(8), nullable=False))',
    "not_null_with_none_default": (
        'op.add_column("customers", sa.Column("tier", sa.String(8), nullable=False, server_default=None))'
    ),
    "batch_drop_column": ('with op.batch_alter_table("customers") as batch_op:\n        batch_op.drop_column("email")'),
    "sql_drop_column": 'op.execute("ALTER TABLE customers DROP COLUMN email")',
    "sql_drop_table_in_constant": "op.execute(sa.text(DROP_SQL))",
    "sql_rename": 'op.execute("ALTER TABLE customers RENAME COLUMN email TO mail")',
    "sql_type": 'op.execute("ALTER TABLE customers ALTER COLUMN email TYPE text")',
    "sql_not_null": 'op.execute("ALTER TABLE customers ALTER COLUMN email SET NOT NULL")',
    "sql_computed": 'op.execute("DROP " + "TABLE customers")',
    "sql_on_the_connection": 'op.get_bind().execute(sa.text("ALTER TABLE customers DROP COLUMN email"))',
    "driver_sql_on_the_connection": 'op.get_bind().exec_driver_sql("DROP TABLE customers")',
    "helper_function": 'def _cleanup() -> None:\n    op.drop_column("customers", "email")',
}

# Expansions the old release survives.
EXPANSIONS = {
    "create_table": 'op.create_table("tags", sa.Column("id", sa.String(40), primary_key=True))',
    "nullable_column": 'op.add_column("customers", sa.Column("tier", sa.String(8), nullable=True))',
    "implicitly_nullable_column": 'op.add_column("customers", sa.Column("tier", sa.String(8)))',
    "not_null_with_default": (
        'op.add_column("customers", sa.Column("tier", sa.String(8), nullable=False, server_default="basic"))'
    ),
    "loosen_to_nullable": 'op.alter_column("customers", "email", nullable=True)',
    "create_index": 'op.create_index("ix_customers_tier", "customers", ["tier"])',
    "sql_grant": 'op.execute("GRANT SELECT ON customers TO shipyard_app")',
    "data_migration_on_the_connection": (
        'op.get_bind().execute(sa.update(sa.table("customers", sa.column("tier"))).values(tier="basic"))'
    ),
}


def _migration(directory: Path, body: str, *, extra: str = "") -> Path:
    source = HEADER + extra + 'DROP_SQL = "DROP TABLE customers"\n\n\ndef upgrade() -> None:\n'
    source += textwrap.indent(body, "    ") + "\n\n\ndef downgrade() -> None:\n    pass\n"
    path = directory / "0099_change.py"
    path.write_text(source)
    return path


def test_the_shipped_migrations_only_expand() -> None:
    violations = check_migrations(MIGRATIONS_DIR / "versions")
    assert [str(violation) for violation in violations] == []


def test_the_shipped_migrations_are_all_read() -> None:
    # A check that found no files would pass vacuously.
    names = sorted(path.name for path in (MIGRATIONS_DIR / "versions").glob("0*.py"))
    assert names[:4] == [
        "0001_initial_schema.py",
        "0002_error_reports.py",
        "0003_outbox_webhooks.py",
        "0004_sign_in_and_sessions.py",
    ]


@pytest.mark.parametrize("body", CONTRACTS.values(), ids=CONTRACTS.keys())
def test_a_contract_is_refused(tmp_path: Path, body: str) -> None:
    if body.startswith("def "):
        path = _migration(tmp_path, "_cleanup()", extra=body + "\n\n\n")
    else:
        path = _migration(tmp_path, body)
    violations = check_migration(path)
    assert len(violations) == 1, violations
    assert str(violations[0]).startswith("0099_change.py:")


@pytest.mark.parametrize("body", EXPANSIONS.values(), ids=EXPANSIONS.keys())
def test_an_expansion_passes(tmp_path: Path, body: str) -> None:
    assert check_migration(_migration(tmp_path, body)) == []


def test_the_directory_check_reports_the_bad_migration(tmp_path: Path) -> None:
    _migration(tmp_path, CONTRACTS["drop_column"])
    (tmp_path / "__init__.py").write_text("")
    violations = check_migrations(tmp_path)
    assert [(violation.path.name, violation.message) for violation in violations] == [
        ("0099_change.py", "drops a column (op.drop_column)")
    ]


def test_a_downgrade_may_contract(tmp_path: Path) -> None:
    path = tmp_path / "0099_change.py"
    path.write_text(
        HEADER + 'def upgrade() -> None:\n    op.add_column("customers", sa.Column("tier", sa.String(8)))\n\n\n'
        'def downgrade() -> None:\n    op.drop_column("customers", "tier")\n'
    )
    assert check_migration(path) == []


def test_a_reviewed_contract_marker_lets_the_contract_through(tmp_path: Path) -> None:
    marker = 'CONTRACT = "customers.email unread since release 4f2c9e1 (expand in 0007)"\n'
    path = _migration(tmp_path, CONTRACTS["drop_column"], extra=marker)
    assert check_migration(path) == []


@pytest.mark.parametrize("marker", ['CONTRACT = ""\n', 'CONTRACT = "   "\n', "CONTRACT = True\n"])
def test_a_marker_without_a_reason_is_refused(tmp_path: Path, marker: str) -> None:
    path = _migration(tmp_path, CONTRACTS["drop_column"], extra=marker)
    [violation] = check_migration(path)
    assert "CONTRACT must be a non-empty string" in violation.message


def test_an_aliased_op_import_is_still_checked(tmp_path: Path) -> None:
    path = tmp_path / "0099_change.py"
    path.write_text(
        'from alembic import op as alembic_op\n\n\ndef upgrade() -> None:\n    alembic_op.drop_table("customers")\n'
    )
    assert [violation.message for violation in check_migration(path)] == ["drops a table (op.drop_table)"]
