"""Which session store a process uses: the database on the embedded default, Valkey/Redis db0 with REDIS_URL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.auth.sessions.database_store import DatabaseSessionStore
from shipyard.auth.sessions.redis_store import RedisSessionStore
from shipyard.auth.sessions.store import Lifetimes

if TYPE_CHECKING:
    from shipyard.auth.sessions.store import SessionStore
    from shipyard.kit.db import Database
    from shipyard.settings import Settings


def create_session_store(settings: Settings, database: Database) -> SessionStore:
    """The database store on the embedded default; the Redis store (db0 of REDIS_URL) when REDIS_URL is set."""
    lifetimes = Lifetimes.from_settings(settings)
    if settings.redis_url:
        return RedisSessionStore(settings.redis_url, lifetimes)
    return DatabaseSessionStore(database, lifetimes)
