"""Every query on the event outbox."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.models import Event


def add(session: AsyncSession, event: Event) -> None:
    """Add an event to the session's transaction."""
    session.add(event)


async def list_page(
    session: AsyncSession, organization_id: str, *, event_type: str | None, limit: int, after_id: str | None
) -> list[Event]:
    """A page of the organisation's events, newest first (fetches `limit + 1`)."""
    query = select(Event).where(Event.organization_id == organization_id)
    if event_type:
        query = query.where(Event.type == event_type)
    if after_id:
        query = query.where(Event.id < after_id)
    return list(await session.scalars(query.order_by(Event.id.desc()).limit(limit + 1)))


async def get(session: AsyncSession, event_id: str) -> Event | None:
    """An event by ID (for jobs, which act for no organisation in particular)."""
    return await session.get(Event, event_id)


async def claim_undispatched(session: AsyncSession, limit: int) -> list[Event]:
    """The oldest events not yet fanned out, locked; rows another relay holds are skipped (PostgreSQL)."""
    query = (
        select(Event)
        .where(Event.dispatched_at.is_(None))
        .order_by(Event.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(await session.scalars(query))
