"""Every query for invoices; each one is scoped to an organisation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.models import Customer, Invoice, Organization


@dataclass(frozen=True, slots=True)
class InvoiceFilter:
    """Optional filters for listing invoices."""

    customer_id: str | None = None
    status: str | None = None
    customer_email: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


async def get(session: AsyncSession, organization_id: str, customer_id: str, invoice_id: str) -> Invoice | None:
    """The organisation's invoice with this ID, if it belongs to `customer_id`."""
    return await session.scalar(
        select(Invoice).where(
            Invoice.organization_id == organization_id,
            Invoice.customer_id == customer_id,
            Invoice.id == invoice_id,
        ),
    )


async def list_page(
    session: AsyncSession, organization_id: str, filters: InvoiceFilter, *, limit: int, after_id: str | None
) -> list[Invoice]:
    """A page of invoices, newest first (fetches `limit + 1`)."""
    query = select(Invoice).where(Invoice.organization_id == organization_id)
    if filters.customer_id:
        query = query.where(Invoice.customer_id == filters.customer_id)
    if filters.status:
        query = query.where(Invoice.status == filters.status)
    if filters.customer_email:
        query = query.join(Customer, Customer.id == Invoice.customer_id).where(
            Customer.organization_id == organization_id, Customer.email == filters.customer_email
        )
    if filters.created_after:
        query = query.where(Invoice.created_at >= filters.created_after)
    if filters.created_before:
        query = query.where(Invoice.created_at < filters.created_before)
    if after_id:
        query = query.where(Invoice.id < after_id)
    return list(await session.scalars(query.order_by(Invoice.id.desc()).limit(limit + 1)))


async def next_number(session: AsyncSession, organization_id: str) -> int:
    """Take the organisation's next invoice number (the row lock serialises concurrent creators)."""
    number = await session.scalar(
        update(Organization)
        .where(Organization.id == organization_id)
        .values(invoice_seq=Organization.invoice_seq + 1)
        .returning(Organization.invoice_seq),
    )
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
