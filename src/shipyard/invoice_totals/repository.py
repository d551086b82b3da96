"""Every statement on the invoice totals: signed upserts, the reads of the aggregates, and a rebuild.

A change is an `INSERT ... ON CONFLICT DO UPDATE SET invoice_count = invoice_count + excluded...`:
one statement that either creates the row or adds to it under the row's lock, on SQLite and on
PostgreSQL alike, so two transactions changing the same row never lose an update. A row that
drops to zero invoices is deleted, so the tables hold only what exists.
"""

from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Date, bindparam, case, cast, delete, func, insert, literal, select, text
from sqlalchemy.dialects import postgresql, sqlite

from shipyard.kit.ids import ID_ALPHABET
from shipyard.models import TOTALS_SHARDS, Invoice, InvoiceStatus, InvoiceTotal, OpenInvoiceAging, Organization

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

AGING_BUCKETS = ("0-30", "31-60", "61-90", "90+")
TotalsTable = type[InvoiceTotal] | type[OpenInvoiceAging]
KEYS: dict[TotalsTable, tuple[str, ...]] = {
    InvoiceTotal: ("organization_id", "status", "currency", "shard"),
    OpenInvoiceAging: ("organization_id", "currency", "aged_from", "shard"),
}


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


@functools.cache
def _upsert(dialect: str, table: TotalsTable) -> Any:  # noqa: ANN401 - a dialect's Insert; the two share no public base
    """`INSERT ... ON CONFLICT (key) DO UPDATE` adding the row's count and amount, returning the new count."""
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = (*KEYS[table], "invoice_count", "amount")
    # On the table, not the mapped class: an INSERT of an ORM entity with parameters runs through the
    # ORM's bulk-insert path, a tenth of this statement's CPU for nothing the ORM adds here.
    core = table.metadata.tables[table.__tablename__]
    statement = dialect_insert(core).values({name: bindparam(name) for name in columns})
    return statement.on_conflict_do_update(
        index_elements=list(KEYS[table]),
        set_={
            "invoice_count": core.c.invoice_count + statement.excluded.invoice_count,
            "amount": core.c.amount + statement.excluded.amount,
        },
    ).returning(core.c.invoice_count)


@functools.cache
def _delete_empty(table: TotalsTable) -> Any:  # noqa: ANN401 - a Delete statement
    key = [getattr(table, name) == bindparam(name) for name in KEYS[table]]
    return delete(table).where(*key, table.invoice_count == 0)


async def add(session: AsyncSession, table: TotalsTable, key: dict[str, Any], count: int, amount: int) -> None:
    """Add `count` invoices and `amount` to the row at `key` (negative to take them away)."""
    params = {**key, "invoice_count": count, "amount": amount}
    remaining = await session.scalar(_upsert(_dialect(session), table), params)
    if remaining == 0:
        await session.execute(_delete_empty(table), key)


async def status_counts(session: AsyncSession, organization_id: str) -> dict[str, int]:
    """Number of invoices per status."""
    query = (
        select(InvoiceTotal.status, func.sum(InvoiceTotal.invoice_count))
        .where(InvoiceTotal.organization_id == organization_id)
        .group_by(InvoiceTotal.status)
    )
    return {str(status): int(count) for status, count in (await session.execute(query)).all() if count}


async def open_amounts(session: AsyncSession, organization_id: str) -> list[tuple[str, int]]:
    """(currency, sum of open invoice totals), sorted by currency."""
    query = (
        select(InvoiceTotal.currency, func.sum(InvoiceTotal.amount))
        .where(InvoiceTotal.organization_id == organization_id, InvoiceTotal.status == InvoiceStatus.OPEN)
        .group_by(InvoiceTotal.currency)
        .order_by(InvoiceTotal.currency)
    )
    return [(str(currency), int(total or 0)) for currency, total in (await session.execute(query)).all()]


def _bucket(today: date) -> ColumnElement[Any]:
    """The aging bucket of the day an invoice ages from; a date compares alike on both databases."""
    bounds = [today - timedelta(days=days) for days in (30, 60, 90)]
    aged_from = OpenInvoiceAging.aged_from
    return case(
        (aged_from >= bounds[0], AGING_BUCKETS[0]),
        (aged_from >= bounds[1], AGING_BUCKETS[1]),
        (aged_from >= bounds[2], AGING_BUCKETS[2]),
        else_=AGING_BUCKETS[3],
    )


async def aging(session: AsyncSession, organization_id: str, today: date) -> list[tuple[str, str, int, int]]:
    """(bucket, currency, open total, invoice count) for the organisation's open invoices."""
    # Grouping by a CASE with bound parameters fails on PostgreSQL (the GROUP BY copy gets its own
    # parameters and no longer matches the select list), so bucket in a subquery and group outside.
    aged = (
        select(
            _bucket(today).label("bucket"),
            OpenInvoiceAging.currency.label("currency"),
            OpenInvoiceAging.amount.label("amount"),
            OpenInvoiceAging.invoice_count.label("invoices"),
        )
        .where(OpenInvoiceAging.organization_id == organization_id)
        .subquery()
    )
    rows = await session.execute(
        select(aged.c.bucket, aged.c.currency, func.sum(aged.c.amount), func.sum(aged.c.invoices)).group_by(
            aged.c.bucket, aged.c.currency
        )
    )
    return [(str(name), str(currency), int(total or 0), int(count)) for name, currency, total, count in rows.all()]


def shard_expression(dialect: str) -> ColumnElement[int]:
    """`shard_of(invoice.id)` in SQL: the position of the ID's last character in the ID alphabet."""
    if dialect == "postgresql":
        position = func.strpos(literal(ID_ALPHABET), func.right(Invoice.id, 1))
    else:
        position = func.instr(literal(ID_ALPHABET), func.substr(Invoice.id, -1))
    return (position - 1) % TOTALS_SHARDS


def aged_from_expression(dialect: str) -> ColumnElement[Any]:
    """`aged_from(invoice)` in SQL: the due date, else the UTC day it was finalized (or created)."""
    issued = func.coalesce(Invoice.finalized_at, Invoice.created_at)
    # PostgreSQL would take a timestamptz's date in the session's time zone: name UTC.
    day = cast(func.timezone("UTC", issued), Date) if dialect == "postgresql" else func.date(issued)
    return func.coalesce(Invoice.due_date, day)


def recomputed(dialect: str, organization_id: str) -> tuple[Any, Any]:
    """The rows both tables should hold for the organisation, grouped from `invoices` itself."""
    # Computed in a subquery and grouped outside: a GROUP BY copy of an expression with bound
    # parameters no longer matches the select list on PostgreSQL.
    each = (
        select(
            Invoice.organization_id.label("organization_id"),
            Invoice.status.label("status"),
            Invoice.currency.label("currency"),
            aged_from_expression(dialect).label("aged_from"),
            shard_expression(dialect).label("shard"),
            Invoice.total.label("amount"),
        )
        .where(Invoice.organization_id == organization_id)
        .subquery()
    )
    measures = (func.count(), func.sum(each.c.amount))
    totals_key = [each.c[name] for name in KEYS[InvoiceTotal]]
    aging_key = [each.c[name] for name in KEYS[OpenInvoiceAging]]
    totals = select(*totals_key, *measures).group_by(*totals_key)
    aging_rows = select(*aging_key, *measures).where(each.c.status == InvoiceStatus.OPEN).group_by(*aging_key)
    return totals, aging_rows


async def rebuild(session: AsyncSession, organization_id: str) -> None:
    """Recompute the organisation's rows from its invoices (after a bulk load that bypassed the services).

    Safe beside live writers: on PostgreSQL the tables are locked against other writers (SHARE ROW
    EXCLUSIVE) before the invoices are read, so a writer's change is either committed and read here,
    or added on top of the rebuilt rows once the lock is released; SQLite has one writer at a time.
    """
    dialect = _dialect(session)
    if dialect == "postgresql":
        await session.execute(text("LOCK TABLE invoice_totals, open_invoice_aging IN SHARE ROW EXCLUSIVE MODE"))
    totals, aging_rows = recomputed(dialect, organization_id)
    for table, rows in ((InvoiceTotal, totals), (OpenInvoiceAging, aging_rows)):
        await session.execute(delete(table).where(table.organization_id == organization_id))
        columns = [*KEYS[table], "invoice_count", "amount"]
        await session.execute(insert(table).from_select(columns, rows))


async def organization_ids(session: AsyncSession) -> list[str]:
    """Every organisation's ID, in order."""
    return list(await session.scalars(select(Organization.id).order_by(Organization.id)))
