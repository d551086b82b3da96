"""Business rules for customers. Services never commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit import service as audit
from shipyard.customers import repository
from shipyard.customers.schemas import CustomerCreate, CustomerFilter, CustomerRead, CustomerUpdate
from shipyard.events import service as events
from shipyard.identity.principal import Principal
from shipyard.models import Customer, CustomerRow
from shipyard.models.base import utcnow

TARGET = "customer"


def event_snapshot(customer: Customer) -> dict[str, Any]:
    """The customer as the API shows it, frozen into its event."""
    return CustomerRead.model_validate(customer).model_dump(mode="json")


async def get(session: AsyncSession, principal: Principal, customer_id: str) -> Customer | None:
    """The principal's organisation's customer, or None (also for another tenant's ID)."""
    return await repository.get(session, principal.organization_id, customer_id)


async def read(session: AsyncSession, principal: Principal, customer_id: str) -> CustomerRow | None:
    """The customer as a read-only answer shows it (`get` for one to change), or None."""
    return await repository.get_row(session, principal.organization_id, customer_id)


async def list_page(
    session: AsyncSession, principal: Principal, filters: CustomerFilter, *, limit: int, after_id: str | None
) -> Sequence[Mapping[str, Any]]:
    """A page of the organisation's customers, as rows keyed by `CustomerRead`'s field names."""
    return await repository.list_page(session, principal.organization_id, filters, limit=limit, after_id=after_id)


async def create(session: AsyncSession, principal: Principal, data: CustomerCreate) -> Customer:
    """Create a customer."""
    customer = Customer(
        organization_id=principal.organization_id,
        name=data.name,
        email=str(data.email),
        metadata_=dict(data.metadata),
    )
    repository.add(session, customer)
    await session.flush()
    audit.record(session, principal, "customer.created", target_type=TARGET, target_id=customer.id)
    await events.emit(session, principal, "customer.created", event_snapshot(customer))
    return customer


async def update(session: AsyncSession, principal: Principal, customer: Customer, data: CustomerUpdate) -> Customer:
    """Apply the fields present in `data`; null is not a value for any of them."""
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    if "name" in changes:
        customer.name = changes["name"]
    if "email" in changes:
        customer.email = str(changes["email"])
    if "metadata" in changes:
        customer.metadata_ = dict(changes["metadata"])
    if changes:
        await session.flush()
        audit.record(
            session,
            principal,
            "customer.updated",
            target_type=TARGET,
            target_id=customer.id,
            details={"fields": sorted(changes)},
        )
        await events.emit(session, principal, "customer.updated", event_snapshot(customer))
    return customer


async def archive(session: AsyncSession, principal: Principal, customer: Customer) -> None:
    """Archive a customer: it leaves lists and lookups; its invoices stay."""
    customer.archived_at = utcnow()
    await session.flush()
    audit.record(session, principal, "customer.archived", target_type=TARGET, target_id=customer.id)
    await events.emit(session, principal, "customer.archived", event_snapshot(customer))
