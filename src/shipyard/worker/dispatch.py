"""Waking the outbox relay when a transaction that queued work commits, and never on rollback.

Services add rows to the outbox in the caller's transaction and call `wake_after_commit(session)`.
When that transaction commits, every waker registered for the session's engine is called (the
embedded relay, or a producer that asks the Redis workers to relay). A rollback forgets the wake.
A process without a registered waker drops it: the periodic sweep finds the rows a moment later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from shipyard.kit.context import current_request_id

Waker = Callable[[str | None], None]

_wakers: WeakKeyDictionary[Engine, list[Waker]] = WeakKeyDictionary()
_LISTENING = "shipyard.outbox.listening"
_PENDING = "shipyard.outbox.pending"


def register(engine: AsyncEngine, waker: Waker) -> None:
    """Call `waker(request_id)` after each commit that queued work on `engine`."""
    _wakers.setdefault(engine.sync_engine, []).append(waker)


def unregister(engine: AsyncEngine, waker: Waker) -> None:
    """Stop calling `waker`."""
    wakers = _wakers.get(engine.sync_engine, [])
    if waker in wakers:
        wakers.remove(waker)


def wake_after_commit(session: AsyncSession) -> None:
    """Ask for the relay to run once this session's transaction commits."""
    sync = session.sync_session
    sync.info[_PENDING] = current_request_id() or sync.info.get(_PENDING) or ""
    if sync.info.get(_LISTENING):
        return
    sync.info[_LISTENING] = True
    event.listen(sync, "after_commit", _after_commit)
    event.listen(sync, "after_soft_rollback", _after_rollback)


def _after_commit(sync: Session) -> None:
    if _PENDING not in sync.info:
        return
    request_id = sync.info.pop(_PENDING) or None
    bind = sync.get_bind()
    engine = bind if isinstance(bind, Engine) else getattr(bind, "engine", None)
    for waker in list(_wakers.get(engine, [])) if engine is not None else []:
        waker(request_id)


def _after_rollback(sync: Session, previous: Any) -> None:  # noqa: ANN401 - SQLAlchemy's SessionTransaction
    # A rolled-back savepoint leaves the outer transaction (and what it queued) to commit or not.
    if not getattr(previous, "nested", False):
        sync.info.pop(_PENDING, None)
