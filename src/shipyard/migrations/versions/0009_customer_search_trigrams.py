"""trigram indexes so that a customer search reads an index instead of the table

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

The customer search (`GET /customers?q=` and MCP `search_customers`) matches
`lower(name) LIKE '%text%' OR lower(email) LIKE '%text%'`. A B-tree cannot serve a pattern that
starts with a wildcard, so PostgreSQL read every row of the tenant, or the whole table. A GIN index
of `pg_trgm` trigrams over each lowered column serves both patterns (a BitmapOr of the two).

PostgreSQL only. `pg_trgm` is a trusted extension (PostgreSQL 13+): the migration role may create it
because it owns the database (deploy/postgres/01-roles.sql), no superuser needed. The indexes are
built CONCURRENTLY, outside the migration's transaction, so a live system keeps writing customers
while they build; `if_not_exists` lets a re-run finish what an interrupted one started. SQLite has
no trigram index: its search keeps reading the tenant's rows through `(organization_id, id)`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

SEARCHED_COLUMNS = ("name", "email")


def _on_postgresql() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    """Apply this revision."""
    if not _on_postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    with op.get_context().autocommit_block():
        for column in SEARCHED_COLUMNS:
            op.create_index(
                f"ix_customers_lower_{column}_trgm",
                "customers",
                [sa.text(f"lower({column}) gin_trgm_ops")],
                postgresql_using="gin",
                postgresql_concurrently=True,
                if_not_exists=True,
            )


def downgrade() -> None:
    """Revert this revision (the extension stays: dropping it could break objects others made with it)."""
    if not _on_postgresql():
        return
    with op.get_context().autocommit_block():
        for column in SEARCHED_COLUMNS:
            op.drop_index(
                f"ix_customers_lower_{column}_trgm",
                table_name="customers",
                postgresql_concurrently=True,
                if_exists=True,
            )
