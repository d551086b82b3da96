"""Routes for `/api/v1/events` (read-only: events are written by the changes they describe)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from shipyard.events import service as event_service
from shipyard.events.schemas import EventRead
from shipyard.identity.auth import require_scopes
from shipyard.identity.principal import Principal
from shipyard.kit.api import API_V1
from shipyard.kit.deps import DBSession
from shipyard.kit.pagination import Page, PageParams, make_page, page_params_for
from shipyard.kit.problems import problem_responses

# Events are what webhooks carry, so they are read with the webhooks scope (declared here, not imported
# from webhooks/, which builds on events).
WebhooksRead = Annotated[Principal, require_scopes("webhooks:read")]

router = APIRouter(prefix=f"{API_V1}/events", tags=["events"], responses=problem_responses(401, 403))
Paging = Annotated[PageParams, Depends(page_params_for("evt"))]


@router.get("", response_model=Page[EventRead], responses=problem_responses(400, 422))
async def list_events(
    principal: WebhooksRead,
    session: DBSession,
    paging: Paging,
    type: Annotated[str | None, Query(max_length=64, description="Only events of this type.")] = None,  # noqa: A002 - the public parameter name
) -> Page[EventRead]:
    """The organisation's events, newest first."""
    events = await event_service.list_page(
        session, principal, event_type=type, limit=paging.limit, after_id=paging.after_id
    )
    items, cursor = make_page([EventRead.model_validate(e) for e in events], [e.id for e in events], paging.limit)
    return Page[EventRead](data=items, next_cursor=cursor)
