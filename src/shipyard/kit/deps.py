"""FastAPI dependencies shared by every domain.

They are `async def` although they do no I/O: FastAPI runs a plain `def` dependency in a thread pool,
which costs a thread hop on every request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.kit.app_state import kit_state
from shipyard.settings import Settings


async def get_session(request: Request) -> AsyncSession:
    """The request's session, opened by the unit-of-work middleware."""
    # The scope's state dict itself: `request.state` would build a `State` around it on every request.
    return request.scope["state"]["session_holder"].get()  # type: ignore[no-any-return]  # the scope is untyped


async def get_writer_session(request: Request) -> AsyncSession:
    """The request's session as a writer's, for the rare safe-method endpoint that writes."""
    return request.scope["state"]["session_holder"].get_for_writing()  # type: ignore[no-any-return]  # the scope is untyped


async def get_settings(request: Request) -> Settings:
    """The app's settings."""
    return kit_state(request.app).settings


DBSession = Annotated[AsyncSession, Depends(get_session)]
DBWriterSession = Annotated[AsyncSession, Depends(get_writer_session)]
AppSettings = Annotated[Settings, Depends(get_settings)]
