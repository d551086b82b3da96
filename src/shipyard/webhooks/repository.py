"""Every query for webhook endpoints, deliveries and attempts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.events.catalogue import PING
from shipyard.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WorkStatus


def add(session: AsyncSession, row: WebhookEndpoint | WebhookDelivery | WebhookAttempt) -> None:
    """Add a row to the session's transaction."""
    session.add(row)


async def get_endpoint(session: AsyncSession, organization_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    """The organisation's endpoint, or None (also for another tenant's ID)."""
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.organization_id == organization_id, WebhookEndpoint.id == endpoint_id
    )
    return (await session.scalars(query)).one_or_none()


async def endpoint_by_id(session: AsyncSession, endpoint_id: str) -> WebhookEndpoint | None:
    """An endpoint by ID, for jobs (which have the ID from a delivery of the same organisation)."""
    return await session.get(WebhookEndpoint, endpoint_id)


async def endpoints_by_ids(session: AsyncSession, endpoint_ids: Iterable[str]) -> dict[str, WebhookEndpoint]:
    """Endpoints by ID, for a batch of jobs (the IDs come from deliveries)."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.id.in_(set(endpoint_ids)))
    return {endpoint.id: endpoint for endpoint in await session.scalars(query)}


async def events_by_ids(session: AsyncSession, event_ids: Iterable[str]) -> dict[str, Event]:
    """Events by ID, for a batch of delivery jobs."""
    query = select(Event).where(Event.id.in_(set(event_ids)))
    return {event.id: event for event in await session.scalars(query)}


async def list_endpoints(
    session: AsyncSession, organization_id: str, *, limit: int, after_id: str | None
) -> list[WebhookEndpoint]:
    """A page of the organisation's endpoints, newest first (fetches `limit + 1`)."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.organization_id == organization_id)
    if after_id:
        query = query.where(WebhookEndpoint.id < after_id)
    return list(await session.scalars(query.order_by(WebhookEndpoint.id.desc()).limit(limit + 1)))


async def remove(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint; its deliveries go with it."""
    await session.delete(endpoint)


async def enabled_endpoints(session: AsyncSession, organization_ids: Iterable[str]) -> list[WebhookEndpoint]:
    """The enabled endpoints of these organisations."""
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.organization_id.in_(list(organization_ids)), WebhookEndpoint.enabled.is_(True)
    )
    return list(await session.scalars(query))


async def get_delivery(
    session: AsyncSession, organization_id: str, endpoint_id: str, delivery_id: str
) -> WebhookDelivery | None:
    """One delivery of the organisation's endpoint, or None."""
    query = select(WebhookDelivery).where(
        WebhookDelivery.organization_id == organization_id,
        WebhookDelivery.endpoint_id == endpoint_id,
        WebhookDelivery.id == delivery_id,
    )
    return (await session.scalars(query)).one_or_none()


async def list_deliveries(
    session: AsyncSession,
    organization_id: str,
    endpoint_id: str,
    *,
    status: str | None,
    limit: int,
    after_id: str | None,
) -> list[WebhookDelivery]:
    """A page of an endpoint's deliveries, newest first (fetches `limit + 1`)."""
    query = select(WebhookDelivery).where(
        WebhookDelivery.organization_id == organization_id, WebhookDelivery.endpoint_id == endpoint_id
    )
    if status:
        query = query.where(WebhookDelivery.status == status)
    if after_id:
        query = query.where(WebhookDelivery.id < after_id)
    return list(await session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1)))


async def events_missed(
    session: AsyncSession, endpoint: WebhookEndpoint, since: datetime, *, limit: int
) -> list[Event]:
    """The organisation's events since `since` that the endpoint subscribes to, oldest first.

    Without those it received or is about to receive (a succeeded or pending delivery to it).
    """
    types = endpoint.event_types
    handled = exists().where(
        WebhookDelivery.event_id == Event.id,
        WebhookDelivery.endpoint_id == endpoint.id,
        WebhookDelivery.status.in_([WorkStatus.PENDING, WorkStatus.SUCCEEDED]),
    )
    query = select(Event).where(
        Event.organization_id == endpoint.organization_id,
        Event.created_at >= since,
        Event.type != PING if "*" in types else Event.type.in_(types),
        ~handled,
    )
    return list(await session.scalars(query.order_by(Event.created_at, Event.id).limit(limit)))


async def attempts_of(session: AsyncSession, delivery_id: str) -> list[WebhookAttempt]:
    """A delivery's attempts, first first."""
    query = select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery_id).order_by(WebhookAttempt.number)
    return list(await session.scalars(query))
