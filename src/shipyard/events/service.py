"""Emitting events into the outbox, in the caller's transaction. Services never commit."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.events import repository
from shipyard.identity.principal import Principal
from shipyard.kit.context import current_request_id
from shipyard.kit.ids import new_id
from shipyard.models import Event
from shipyard.models.base import utcnow
from shipyard.worker import dispatch


async def emit(
    session: AsyncSession,
    principal: Principal | None,
    event_type: str,
    data: Mapping[str, Any],
    *,
    organization_id: str | None = None,
) -> Event:
    """Record `event_type` with `data` in the outbox; it is relayed once (and only if) the transaction commits.

    `data` is plain JSON-ready data: each domain builds its own snapshot (the object as its API shows
    it), so the outbox knows no domain's schemas.
    """
    org = principal.organization_id if principal else organization_id
    if org is None:
        msg = "an event belongs to an organisation"
        raise ValueError(msg)
    event = Event(id=new_id("evt"), organization_id=org, type=event_type, payload=dict(data))
    event.request_id = current_request_id()
    repository.add(session, event)
    dispatch.wake_after_commit(session)
    return event


def outbox_row(session: AsyncSession, principal: Principal, event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of the outbox row `emit` would add, for a caller that inserts it in its own statement.

    The caller must insert it in `session`'s transaction; the relay is woken once that commits.
    """
    dispatch.wake_after_commit(session)
    return {
        "id": new_id("evt"),
        "organization_id": principal.organization_id,
        "type": event_type,
        "payload": dict(data),
        "request_id": current_request_id(),
        "created_at": utcnow(),
        "dispatched_at": None,
    }


async def list_page(
    session: AsyncSession, principal: Principal, *, event_type: str | None, limit: int, after_id: str | None
) -> list[Event]:
    """A page of the principal's organisation's events, newest first."""
    return await repository.list_page(
        session, principal.organization_id, event_type=event_type, limit=limit, after_id=after_id
    )


async def get(session: AsyncSession, event_id: str) -> Event | None:
    """An event by ID, for jobs and redeliveries (callers check the organisation)."""
    return await repository.get(session, event_id)


def wake_relay(session: AsyncSession) -> None:
    """Have the relay look for new work once this transaction commits."""
    dispatch.wake_after_commit(session)
