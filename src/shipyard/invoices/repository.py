"""Every query for invoices; each one is scoped to an organisation.

The statements are built once, with bound parameters, and reused: building a `select()` costs more
CPU than running it (SQLAlchemy compiles each shape once and caches the SQL).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.kit import direct_reads
from shipyard.models import Customer, Invoice, Organization


@dataclass(frozen=True, slots=True)
class InvoiceFilter:
    """Optional filters for listing invoices."""

    customer_id: str | None = None
    status: str | None = None
    customer_email: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


_ONE = (
    Invoice.organization_id == bindparam("organization_id"),
    Invoice.customer_id == bindparam("customer_id"),
    Invoice.id == bindparam("invoice_id"),
)
_GET = select(Invoice).where(*_ONE)
# Every mapped column, labelled with its attribute name: rows that build an `Invoice`.
_ROW_COLUMNS = direct_reads.labelled_columns(Invoice)
_GET_ROW = select(*_ROW_COLUMNS).where(*_ONE)


async def get(session: AsyncSession, organization_id: str, customer_id: str, invoice_id: str) -> Invoice | None:
    """The organisation's invoice with this ID, if it belongs to `customer_id`.

    In a read-only request on PostgreSQL the row is read directly (kit/direct_reads.py) and the
    invoice comes back detached; everywhere else it is loaded into the session (to be changed).
    """
    params = {"organization_id": organization_id, "customer_id": customer_id, "invoice_id": invoice_id}
    rows = await direct_reads.fetch(session, _GET_ROW, params)
    if rows is not None:
        return Invoice(**rows[0]) if rows else None
    return await session.scalar(_GET, params)


async def list_page(
    session: AsyncSession, organization_id: str, filters: InvoiceFilter, *, limit: int, after_id: str | None
) -> list[Invoice]:
    """A page of invoices, newest first (fetches `limit + 1`), detached: a page is only read."""
    params: dict[str, Any] = {
        "organization_id": organization_id,
        "customer_id": filters.customer_id,
        "status": filters.status,
        "customer_email": filters.customer_email,
        "created_after": filters.created_after,
        "created_before": filters.created_before,
        "after_id": after_id,
        "limit": limit + 1,
    }
    present = frozenset(name for name, value in params.items() if value)
    query, bound = _list_query(present), {name: params[name] for name in present}
    return [Invoice(**row) for row in await direct_reads.rows(session, query, bound)]


@functools.cache
def _list_query(present: frozenset[str]) -> Select[Any]:
    """The list statement for one combination of filters (64 at most, each built once)."""
    query = select(*_ROW_COLUMNS).where(Invoice.organization_id == bindparam("organization_id"))
    if "customer_id" in present:
        query = query.where(Invoice.customer_id == bindparam("customer_id"))
    if "status" in present:
        query = query.where(Invoice.status == bindparam("status"))
    if "customer_email" in present:
        query = query.join(Customer, Customer.id == Invoice.customer_id).where(
            Customer.organization_id == bindparam("organization_id"), Customer.email == bindparam("customer_email")
        )
    if "created_after" in present:
        query = query.where(Invoice.created_at >= bindparam("created_after"))
    if "created_before" in present:
        query = query.where(Invoice.created_at < bindparam("created_before"))
    if "after_id" in present:
        query = query.where(Invoice.id < bindparam("after_id"))
    return query.order_by(Invoice.id.desc()).limit(bindparam("limit"))


_NEXT_NUMBER = (
    update(Organization)
    .where(Organization.id == bindparam("organization_id"))
    .values(invoice_seq=Organization.invoice_seq + 1)
    .returning(Organization.invoice_seq)
)


async def next_number(session: AsyncSession, organization_id: str) -> int:
    """Take the organisation's next invoice number (the row lock serialises concurrent creators)."""
    number = await session.scalar(_NEXT_NUMBER, {"organization_id": organization_id})
    if number is None:
        msg = f"organisation {organization_id} vanished while numbering an invoice"
        raise LookupError(msg)
    return int(number)


def add(session: AsyncSession, invoice: Invoice) -> None:
    """Stage a new invoice."""
    session.add(invoice)


async def remove(session: AsyncSession, invoice: Invoice) -> None:
    """Delete an invoice row."""
    await session.delete(invoice)
