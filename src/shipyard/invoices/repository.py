"""Every query for invoices; each one is scoped to an organisation.

The statements are built once, with bound parameters, and reused: building a `select()` costs more
CPU than running it (SQLAlchemy compiles each shape once and caches the SQL).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, select, update

from shipyard.kit import direct_reads
from shipyard.models import Customer, Invoice, InvoiceRow, Organization

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shipyard.invoices.schemas import InvoiceFilter


_ONE = (
    Invoice.organization_id == bindparam("organization_id"),
    Invoice.customer_id == bindparam("customer_id"),
    Invoice.id == bindparam("invoice_id"),
)
_GET = select(Invoice).where(*_ONE)
# Every mapped column, labelled with its attribute name: rows that build an `Invoice` or, by
# position, an `InvoiceRow` (checked against each other here, at import).
_ROWS: direct_reads.RowShape[InvoiceRow] = direct_reads.RowShape(InvoiceRow, Invoice)
_GET_ROW = _ROWS.select().where(*_ONE)


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


async def get_row(session: AsyncSession, organization_id: str, customer_id: str, invoice_id: str) -> InvoiceRow | None:
    """The organisation's invoice as a read shows it: a row, never an ORM instance.

    For answers that change nothing (`GET .../invoices/{id}`): building an instrumented `Invoice`
    from the row costs more CPU than the read itself.
    """
    params = {"organization_id": organization_id, "customer_id": customer_id, "invoice_id": invoice_id}
    found = _ROWS.build(await direct_reads.rows(session, _GET_ROW, params))
    return found[0] if found else None


async def list_page(
    session: AsyncSession, organization_id: str, filters: InvoiceFilter, *, limit: int, after_id: str | None
) -> list[InvoiceRow]:
    """A page of invoices, newest first (fetches `limit + 1`), as rows: a page is only read."""
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
    return _ROWS.build(await direct_reads.rows(session, query, bound))


@functools.cache
def _list_query(present: frozenset[str]) -> Select[Any]:
    """The list statement for one combination of filters (64 at most, each built once)."""
    query = _ROWS.select().where(Invoice.organization_id == bindparam("organization_id"))
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
