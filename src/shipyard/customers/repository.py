"""Every query for customers; each one is scoped to an organisation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.models import Customer


@dataclass(frozen=True, slots=True)
class CustomerFilter:
    """Optional filters for listing customers."""

    email: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


async def get(session: AsyncSession, organization_id: str, customer_id: str) -> Customer | None:
    """The organisation's active customer with this ID."""
    return await session.scalar(
        select(Customer).where(
            Customer.organization_id == organization_id,
            Customer.id == customer_id,
            Customer.archived_at.is_(None),
        ),
    )


async def list_page(
    session: AsyncSession, organization_id: str, filters: CustomerFilter, *, limit: int, after_id: str | None
) -> list[Customer]:
    """A page of active customers, newest first (fetches `limit + 1`)."""
    query = select(Customer).where(Customer.organization_id == organization_id, Customer.archived_at.is_(None))
    if filters.email:
        query = query.where(Customer.email == filters.email)
    if filters.created_after:
        query = query.where(Customer.created_at >= filters.created_after)
    if filters.created_before:
        query = query.where(Customer.created_at < filters.created_before)
    if after_id:
        query = query.where(Customer.id < after_id)
    return list(await session.scalars(query.order_by(Customer.id.desc()).limit(limit + 1)))


def add(session: AsyncSession, customer: Customer) -> None:
    """Stage a new customer."""
    session.add(customer)
