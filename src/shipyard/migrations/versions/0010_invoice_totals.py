"""invoice totals: the organisation aggregates kept in the same transaction as the invoice writes

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

`invoice_totals` counts invoices and sums their totals per organisation, status, currency and
shard; `open_invoice_aging` does the same for open invoices per currency and the day they age from.
The MCP aggregates read these few rows instead of every open invoice (decisions/0058).

The backfill groups the existing invoices one batch of organisations at a time (INSERT ... SELECT
... GROUP BY, the same SQL on both databases apart from two functions), so no statement holds more
than one batch's rows. The shard and the aging day are computed exactly as
`shipyard.invoice_totals` computes them; the expressions are copied here because a migration must
keep doing what it did when it was written.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

SHARDS = 8
ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ORGANIZATIONS_PER_BATCH = 100

_invoices = sa.table(
    "invoices",
    sa.column("id", sa.String),
    sa.column("organization_id", sa.String),
    sa.column("status", sa.String),
    sa.column("currency", sa.String),
    sa.column("total", sa.BigInteger),
    sa.column("due_date", sa.Date),
    sa.column("finalized_at", sa.DateTime(timezone=True)),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
_organizations = sa.table("organizations", sa.column("id", sa.String))


def _counted(name: str, key: tuple[sa.Column[Any], ...]) -> None:
    op.create_table(
        name,
        sa.Column("organization_id", sa.String(length=40), nullable=False),
        *key,
        sa.Column("shard", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("invoice_count", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f(f"fk_{name}_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("organization_id", *(column.name for column in key), "shard", name=op.f(f"pk_{name}")),
    )


def _grouped(dialect: str, organization_ids: list[str]) -> tuple[sa.Select[Any], sa.Select[Any]]:
    day: sa.ColumnElement[Any]
    if dialect == "postgresql":
        position = sa.func.strpos(sa.literal(ID_ALPHABET), sa.func.right(_invoices.c.id, 1))
        day = sa.cast(
            sa.func.timezone("UTC", sa.func.coalesce(_invoices.c.finalized_at, _invoices.c.created_at)), sa.Date
        )
    else:
        position = sa.func.instr(sa.literal(ID_ALPHABET), sa.func.substr(_invoices.c.id, -1))
        day = sa.func.date(sa.func.coalesce(_invoices.c.finalized_at, _invoices.c.created_at))
    each = (
        sa.select(
            _invoices.c.organization_id,
            _invoices.c.status,
            _invoices.c.currency,
            sa.func.coalesce(_invoices.c.due_date, day).label("aged_from"),
            ((position - 1) % SHARDS).label("shard"),
            _invoices.c.total,
        )
        .where(_invoices.c.organization_id.in_(organization_ids))
        .subquery()
    )
    measures = (sa.func.count(), sa.func.sum(each.c.total))
    totals_key = (each.c.organization_id, each.c.status, each.c.currency, each.c.shard)
    aging_key = (each.c.organization_id, each.c.currency, each.c.aged_from, each.c.shard)
    return (
        sa.select(*totals_key, *measures).group_by(*totals_key),
        sa.select(*aging_key, *measures).where(each.c.status == "open").group_by(*aging_key),
    )


def _backfill() -> None:
    bind = op.get_bind()
    totals = sa.table(
        "invoice_totals",
        *(sa.column(n) for n in ("organization_id", "status", "currency", "shard", "invoice_count", "amount")),
    )
    aging = sa.table(
        "open_invoice_aging",
        *(sa.column(n) for n in ("organization_id", "currency", "aged_from", "shard", "invoice_count", "amount")),
    )
    after = ""
    while True:
        batch = list(
            bind.scalars(
                sa.select(_organizations.c.id)
                .where(_organizations.c.id > after)
                .order_by(_organizations.c.id)
                .limit(ORGANIZATIONS_PER_BATCH)
            )
        )
        if not batch:
            return
        grouped_totals, grouped_aging = _grouped(bind.dialect.name, batch)
        bind.execute(totals.insert().from_select([c.name for c in totals.columns], grouped_totals))
        bind.execute(aging.insert().from_select([c.name for c in aging.columns], grouped_aging))
        after = batch[-1]


def upgrade() -> None:
    """Apply this revision."""
    _counted(
        "invoice_totals",
        (
            sa.Column("status", sa.String(length=16), nullable=False),
            sa.Column("currency", sa.String(length=3), nullable=False),
        ),
    )
    _counted(
        "open_invoice_aging",
        (sa.Column("currency", sa.String(length=3), nullable=False), sa.Column("aged_from", sa.Date(), nullable=False)),
    )
    _backfill()


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("open_invoice_aging")
    op.drop_table("invoice_totals")
