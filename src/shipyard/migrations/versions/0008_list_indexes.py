"""indexes that let a tenant's filtered list cost what its own page costs

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06

Every list is `WHERE organization_id = ? [AND <filter> = ?] ORDER BY id DESC LIMIT n`. Without an
index that ends in `id`, PostgreSQL walks the primary key backwards and skips every row that does
not match, other tenants' rows included, or reads all matching rows and sorts them. An index on
`(organization_id, <filter>, id)` returns the page in order and stops after `n` rows.

On PostgreSQL the indexes are built CONCURRENTLY, outside the migration's transaction, so a live
system keeps writing to these tables while they build (a plain CREATE INDEX blocks writes for the
whole build). `if_not_exists` lets a re-run finish what an interrupted one started. The indexes they
replace are dropped only after their wider successors exist.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# (new index, table, columns, index it makes redundant or None)
INDEXES = (
    ("ix_customers_organization_id_id", "customers", ("organization_id", "id"), None),
    ("ix_invoices_organization_id_id", "invoices", ("organization_id", "id"), None),
    (
        "ix_invoices_organization_id_status_id",
        "invoices",
        ("organization_id", "status", "id"),
        "ix_invoices_organization_id_status",
    ),
    (
        "ix_invoices_organization_id_customer_id_id",
        "invoices",
        ("organization_id", "customer_id", "id"),
        "ix_invoices_organization_id_customer_id",
    ),
    (
        "ix_audit_events_organization_id_action_id",
        "audit_events",
        ("organization_id", "action", "id"),
        "ix_audit_events_organization_id_action",
    ),
)
_OLD_COLUMNS = {
    "ix_invoices_organization_id_status": ("organization_id", "status"),
    "ix_invoices_organization_id_customer_id": ("organization_id", "customer_id"),
    "ix_audit_events_organization_id_action": ("organization_id", "action"),
}


def _concurrently() -> bool:
    return op.get_context().dialect.name == "postgresql"


def upgrade() -> None:
    """Apply this revision."""
    with op.get_context().autocommit_block():
        for name, table, columns, _ in INDEXES:
            op.create_index(name, table, list(columns), if_not_exists=True, postgresql_concurrently=_concurrently())
        for _, table, _, replaced in INDEXES:
            if replaced is not None:
                op.drop_index(replaced, table_name=table, if_exists=True, postgresql_concurrently=_concurrently())


def downgrade() -> None:
    """Revert this revision."""
    with op.get_context().autocommit_block():
        for _, table, _, replaced in INDEXES:
            if replaced is not None:
                op.create_index(replaced, table, list(_OLD_COLUMNS[replaced]), if_not_exists=True)
        for name, table, _, _ in INDEXES:
            op.drop_index(name, table_name=table, if_exists=True)
