"""The MCP tools' read-only queries; every one of them is scoped to an organisation.

Simple lookups reuse the customers, invoices and audit services, and the organisation's invoice
counts, amounts and aging come from the invoice totals (`invoice_totals.service`). What lives here
are the other aggregates and filters that the REST API does not have: counts, substring search, due
dates, a customer's outstanding amount, and the depth of the organisation's webhook and email queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.models import (
    Customer,
    EmailMessage,
    Event,
    Invoice,
    InvoiceStatus,
    Membership,
    WebhookDelivery,
    WebhookEndpoint,
    WorkStatus,
)


async def count_active_customers(session: AsyncSession, organization_id: str) -> int:
    """Customers that are not archived."""
    query = select(func.count()).where(Customer.organization_id == organization_id, Customer.archived_at.is_(None))
    return int(await session.scalar(query) or 0)


async def count_members(session: AsyncSession, organization_id: str) -> int:
    """Members of the organisation."""
    return int(await session.scalar(select(func.count()).where(Membership.organization_id == organization_id)) or 0)


async def customer_outstanding(session: AsyncSession, organization_id: str, customer_id: str) -> list[tuple[str, int]]:
    """(currency, sum of the customer's open invoice totals), sorted by currency.

    One customer's invoices, read through `(organization_id, customer_id, id)`; the organisation's
    totals come from the invoice totals instead (decisions/0058).
    """
    query = select(Invoice.currency, func.sum(Invoice.total)).where(
        Invoice.organization_id == organization_id,
        Invoice.customer_id == customer_id,
        Invoice.status == InvoiceStatus.OPEN,
    )
    rows = await session.execute(query.group_by(Invoice.currency).order_by(Invoice.currency))
    return [(str(currency), int(total or 0)) for currency, total in rows.all()]


async def search_customers(session: AsyncSession, organization_id: str, text: str, limit: int) -> list[Customer]:
    """Active customers whose name or email contains `text` (any case), newest first (fetches `limit + 1`).

    `autoescape` makes `%` and `_` in the text match themselves rather than act as wildcards.
    """
    query = select(Customer).where(Customer.organization_id == organization_id, Customer.archived_at.is_(None))
    if text:
        needle = text.lower()
        query = query.where(
            or_(
                func.lower(Customer.name).contains(needle, autoescape=True),
                func.lower(Customer.email).contains(needle, autoescape=True),
            )
        )
    return list(await session.scalars(query.order_by(Customer.id.desc()).limit(limit + 1)))


async def list_invoices(
    session: AsyncSession,
    organization_id: str,
    *,
    status: str | None,
    customer_id: str | None,
    due_before: date | None,
    limit: int,
) -> list[Invoice]:
    """Invoices matching the filters, newest first (fetches `limit + 1`); `due_before` is exclusive."""
    query = select(Invoice).where(Invoice.organization_id == organization_id)
    if status is not None:
        query = query.where(Invoice.status == status)
    if customer_id is not None:
        query = query.where(Invoice.customer_id == customer_id)
    if due_before is not None:
        query = query.where(Invoice.due_date < due_before)
    return list(await session.scalars(query.order_by(Invoice.id.desc()).limit(limit + 1)))


@dataclass(frozen=True, slots=True)
class QueueCounts:
    """One queue of leased work (webhook deliveries or emails) of an organisation."""

    waiting: int
    retrying: int
    in_flight: int
    failed: int
    oldest_pending_created_at: datetime | None


def _count_where(condition: ColumnElement[bool]) -> ColumnElement[int]:
    # SUM(CASE ...) rather than COUNT(*) FILTER (...): the same SQL on SQLite and PostgreSQL.
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def queue_counts(
    session: AsyncSession, model: type[WebhookDelivery | EmailMessage], organization_id: str, now: datetime
) -> QueueCounts:
    """Pending work split into waiting (of which retrying) and in flight, failed work, and the oldest pending."""
    pending = model.status == WorkStatus.PENDING
    held = and_(pending, model.leased_until.is_not(None), model.leased_until > now)
    free = and_(pending, or_(model.leased_until.is_(None), model.leased_until <= now))
    query = select(
        _count_where(free),
        _count_where(and_(free, model.attempts > 0)),
        _count_where(held),
        _count_where(model.status == WorkStatus.FAILED),
        func.min(case((pending, model.created_at))),
    ).where(model.organization_id == organization_id, model.status != WorkStatus.SUCCEEDED)
    if model is WebhookDelivery:
        # Deliveries are indexed by endpoint, not by organisation: reach them through the org's endpoints.
        endpoints = select(WebhookEndpoint.id).where(WebhookEndpoint.organization_id == organization_id)
        query = query.where(WebhookDelivery.endpoint_id.in_(endpoints))
    waiting, retrying, in_flight, failed, oldest = (await session.execute(query)).one()
    return QueueCounts(int(waiting), int(retrying), int(in_flight), int(failed), oldest)


async def outbox_backlog(session: AsyncSession, organization_id: str) -> int:
    """The organisation's events not yet fanned out to webhook deliveries."""
    query = select(func.count()).where(Event.organization_id == organization_id, Event.dispatched_at.is_(None))
    return int(await session.scalar(query) or 0)


async def endpoint_counts(session: AsyncSession, organization_id: str) -> tuple[int, int]:
    """(all, disabled) webhook endpoints of the organisation."""
    query = select(func.count(), _count_where(WebhookEndpoint.enabled.is_(False))).where(
        WebhookEndpoint.organization_id == organization_id
    )
    total, disabled = (await session.execute(query)).one()
    return int(total), int(disabled)
