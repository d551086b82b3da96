"""The MCP tools' read-only queries; every one of them is scoped to an organisation.

Simple lookups reuse the customers, invoices and audit services. What lives here are the
aggregates and filters that the REST API does not have: counts, substring search, due dates, aging,
and the depth of the organisation's webhook and email queues.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

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

AGING_BUCKETS = ("0-30", "31-60", "61-90", "90+")


async def count_active_customers(session: AsyncSession, organization_id: str) -> int:
    """Customers that are not archived."""
    query = select(func.count()).where(Customer.organization_id == organization_id, Customer.archived_at.is_(None))
    return int(await session.scalar(query) or 0)


async def count_members(session: AsyncSession, organization_id: str) -> int:
    """Members of the organisation."""
    return int(await session.scalar(select(func.count()).where(Membership.organization_id == organization_id)) or 0)


async def invoice_counts(session: AsyncSession, organization_id: str) -> dict[str, int]:
    """Number of invoices per status."""
    rows = await session.execute(
        select(Invoice.status, func.count()).where(Invoice.organization_id == organization_id).group_by(Invoice.status)
    )
    return {str(status): int(count) for status, count in rows.all()}


async def outstanding_by_currency(
    session: AsyncSession, organization_id: str, customer_id: str | None = None
) -> list[tuple[str, int]]:
    """(currency, sum of open invoice totals), sorted by currency."""
    query = select(Invoice.currency, func.sum(Invoice.total)).where(
        Invoice.organization_id == organization_id, Invoice.status == InvoiceStatus.OPEN
    )
    if customer_id is not None:
        query = query.where(Invoice.customer_id == customer_id)
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


def _bucket_expression(today: date) -> ColumnElement[Any]:
    """The aging bucket of an open invoice, computed with portable comparisons only.

    An invoice is aged from its due date; one without a due date from the day it was finalized
    (its creation, if that is missing). Not yet due counts as 0 days. Comparisons against bound
    dates and datetimes work the same on SQLite (ISO text) and PostgreSQL (native types).
    """
    bounds = [today - timedelta(days=days) for days in (30, 60, 90)]
    issued = func.coalesce(Invoice.finalized_at, Invoice.created_at)
    midnight = [datetime.combine(bound, time.min, tzinfo=UTC) for bound in bounds]
    due = Invoice.due_date
    return case(
        (and_(due.is_not(None), due >= bounds[0]), AGING_BUCKETS[0]),
        (and_(due.is_not(None), due >= bounds[1]), AGING_BUCKETS[1]),
        (and_(due.is_not(None), due >= bounds[2]), AGING_BUCKETS[2]),
        (due.is_not(None), AGING_BUCKETS[3]),
        (issued >= midnight[0], AGING_BUCKETS[0]),
        (issued >= midnight[1], AGING_BUCKETS[1]),
        (issued >= midnight[2], AGING_BUCKETS[2]),
        else_=AGING_BUCKETS[3],
    )


async def aging(session: AsyncSession, organization_id: str, today: date) -> list[tuple[str, str, int, int]]:
    """(bucket, currency, open total, invoice count) for the organisation's open invoices."""
    # Grouping by a CASE with bound parameters fails on PostgreSQL (the GROUP BY copy gets its own
    # parameters and no longer matches the select list), so bucket in a subquery and group outside.
    aged = (
        select(
            _bucket_expression(today).label("bucket"), Invoice.currency.label("currency"), Invoice.total.label("total")
        )
        .where(Invoice.organization_id == organization_id, Invoice.status == InvoiceStatus.OPEN)
        .subquery()
    )
    rows = await session.execute(
        select(aged.c.bucket, aged.c.currency, func.sum(aged.c.total), func.count()).group_by(
            aged.c.bucket, aged.c.currency
        )
    )
    return [(str(name), str(currency), int(total or 0), int(count)) for name, currency, total, count in rows.all()]


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
