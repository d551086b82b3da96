"""Every query for outgoing email, including the invoices a reminder is due for."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.models import Customer, EmailMessage, Invoice, InvoiceStatus, Membership, Role, User


async def add_unless_duplicate(session: AsyncSession, message: EmailMessage) -> bool:
    """Add the message; False (and nothing added) if its dedupe key was queued before."""
    try:
        async with session.begin_nested():
            session.add(message)
    except IntegrityError:
        return False
    return True


async def get(session: AsyncSession, message_id: str) -> EmailMessage | None:
    """A message by ID."""
    return await session.get(EmailMessage, message_id)


async def overdue_invoices(
    session: AsyncSession, today: date, *, limit: int, after_id: str | None
) -> list[tuple[Invoice, Customer]]:
    """Open invoices past their due date whose customer is not archived, oldest ID first, across organisations."""
    query = (
        select(Invoice, Customer)
        .join(Customer, Customer.id == Invoice.customer_id)
        .where(
            Invoice.status == InvoiceStatus.OPEN,
            Invoice.due_date < today,
            Customer.archived_at.is_(None),
        )
    )
    if after_id:
        query = query.where(Invoice.id > after_id)
    rows = await session.execute(query.order_by(Invoice.id).limit(limit))
    return [(invoice, customer) for invoice, customer in rows]


async def owner_addresses(session: AsyncSession, organization_id: str) -> list[str]:
    """The email addresses of the organisation's owners."""
    query = (
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.organization_id == organization_id, Membership.role == Role.OWNER, User.email.is_not(None))
        .order_by(User.email)
    )
    return [email for email in await session.scalars(query) if email]
