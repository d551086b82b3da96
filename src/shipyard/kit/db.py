"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

    from shipyard.settings import Settings


@dataclass(frozen=True, slots=True)
class Database:
    """The app's engines and session factories.

    SQLite allows one writer at a time. A deferred transaction that reads and then writes can fail at
    once with "database is locked" when another writer got in between, so write transactions start
    with `BEGIN IMMEDIATE` on a second engine and queue on the busy timeout instead. Reads use the
    first engine and never wait for writers (WAL). On PostgreSQL both factories share one engine.
    """

    engine: AsyncEngine
    write_engine: AsyncEngine
    reader: async_sessionmaker[AsyncSession]
    writer: async_sessionmaker[AsyncSession]

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()

    async def ping(self, timeout_s: float = 2.0) -> None:
        """Run `SELECT 1`, raising if the database does not answer in time."""
        async with asyncio.timeout(timeout_s), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


def create_database(settings: Settings, *, url: str | None = None) -> Database:
    """Build engines for the configured URL (or `url`, e.g. the migration role's)."""
    url = url or settings.effective_database_url
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url, settings, begin="BEGIN")
        write_engine = _sqlite_engine(url, settings, begin="BEGIN IMMEDIATE")
    else:
        engine = write_engine = _postgres_engine(url, settings)
    return Database(
        engine=engine,
        write_engine=write_engine,
        reader=async_sessionmaker(engine, expire_on_commit=False, autoflush=False),
        writer=async_sessionmaker(write_engine, expire_on_commit=False, autoflush=False),
    )


def _sqlite_engine(url: str, settings: Settings, *, begin: str) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000})
    busy_timeout = int(settings.sqlite_busy_timeout_ms)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see `_on_begin`).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout}")
        # WAL + NORMAL is durable against application crashes; only an OS crash can lose the last commit.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:  # noqa: ANN401 - SQLAlchemy passes a sync Connection
        conn.exec_driver_sql(begin)

    return engine


def _postgres_engine(url: str, settings: Settings) -> AsyncEngine:
    connect_args: dict[str, Any] = {}
    kwargs: dict[str, Any] = {}
    if settings.db_pgbouncer:
        # PgBouncer in transaction mode hands each transaction to any server connection, so a
        # statement prepared on one backend is missing on the next. Turn asyncpg's cache off and
        # give every prepared statement a unique name (TRAPS: PgBouncer 1.18 in Debian 12).
        connect_args["statement_cache_size"] = 0
        # SQLAlchemy's asyncpg dialect keeps its own cache of prepared statements on top of asyncpg's.
        connect_args["prepared_statement_cache_size"] = 0
        connect_args["prepared_statement_name_func"] = lambda: f"__asyncpg_{uuid4().hex}__"
    if url.startswith("postgresql+asyncpg"):
        connect_args.setdefault("server_settings", {})["application_name"] = "shipyard"
    if settings.db_pool_size <= 0:
        kwargs["poolclass"] = NullPool
    else:
        kwargs.update(
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_s,
        )
    # pre_ping replaces a connection that died with its backend (a crash, a PgBouncer restart)
    # before the request uses it, instead of failing the request.
    return create_async_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)
