"""Every query for the audit log. There is deliberately no update or delete here."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit.schemas import AuditFilter
from shipyard.models import AuditEvent


def add(session: AsyncSession, event: AuditEvent) -> None:
    """Append an event to the session's transaction."""
    session.add(event)


async def list_events(
    session: AsyncSession,
    organization_id: str,
    filters: AuditFilter,
    *,
    limit: int,
    after_id: str | None,
    with_unowned: bool = False,
) -> list[AuditEvent]:
    """A page of the organisation's events (and, `with_unowned`, those of no organisation), newest first.

    Fetches `limit + 1`.
    """
    owner = AuditEvent.organization_id == organization_id
    query = select(AuditEvent).where(or_(owner, AuditEvent.organization_id.is_(None)) if with_unowned else owner)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    if filters.actor_id:
        query = query.where(AuditEvent.actor_id == filters.actor_id)
    if filters.target_type:
        query = query.where(AuditEvent.target_type == filters.target_type)
    if filters.target_id:
        query = query.where(AuditEvent.target_id == filters.target_id)
    if filters.occurred_after:
        query = query.where(AuditEvent.occurred_at >= filters.occurred_after)
    if filters.occurred_before:
        query = query.where(AuditEvent.occurred_at < filters.occurred_before)
    if after_id:
        query = query.where(AuditEvent.id < after_id)
    return list(await session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit + 1)))
