"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from pydantic_core import from_json
from sqlalchemy import Select, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from shipyard.kit.direct_reads import INFO_KEY, DirectReads
from shipyard.kit.pool_metrics import WatchedPool
from shipyard.kit.sql_comment import tag_statements_with_request_id
from shipyard.settings import InvalidSettingError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, ExecutionContext
    from sqlalchemy.engine.interfaces import DBAPIConnection, DBAPICursor
    from sqlalchemy.pool import ConnectionPoolEntry

    from shipyard.settings import Settings


@dataclass(frozen=True, slots=True)
class Database:
    """The app's engines and session factories.

    SQLite allows one writer at a time. A deferred transaction that reads and then writes can fail at
    once with "database is locked" when another writer got in between, so write transactions start
    with `BEGIN IMMEDIATE` on a second engine and queue on the busy timeout instead. Reads use the
    first engine and never wait for writers (WAL). On PostgreSQL both factories share one engine.

    `request_reader` serves GET and HEAD requests. On PostgreSQL (without PgBouncer) it runs each
    SELECT on its own, without BEGIN and COMMIT, until the session first writes: that statement
    opens a real transaction, which the request commits or rolls back as usual. Elsewhere it is
    `reader`. `reader` is always transactional (MCP's `SET TRANSACTION READ ONLY` needs that).
    There, its sessions also carry `direct_reads` (kit/direct_reads.py), a small asyncpg pool for
    the hottest reads; the app's lifespan opens it, and nothing else needs it.
    """

    engine: AsyncEngine
    write_engine: AsyncEngine
    reader: async_sessionmaker[AsyncSession]
    writer: async_sessionmaker[AsyncSession]
    request_reader: async_sessionmaker[AsyncSession]
    direct_reads: DirectReads | None = None

    async def open_direct_reads(self) -> None:
        """Let read-only requests use the direct pool (a no-op where there is none)."""
        if self.direct_reads is not None:
            await self.direct_reads.open()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self.direct_reads is not None:
            await self.direct_reads.close()
        await self.engine.dispose()
        if self.write_engine is not self.engine:
            await self.write_engine.dispose()

    async def ping(self, timeout_s: float = 2.0) -> None:
        """Run `SELECT 1`, raising if the database does not answer in time."""
        async with asyncio.timeout(timeout_s), self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


def require_sqlite_directory(url: str) -> None:
    """Refuse, in one line, an SQLite file whose directory is missing (SQLite only says "unable to open")."""
    database = make_url(url).database
    if database and database != ":memory:" and not (folder := Path(database).parent).is_dir():
        msg = f"DATABASE_URL: the SQLite database's directory {folder} does not exist; create it or fix DATABASE_URL"
        raise InvalidSettingError(msg)


def create_database(settings: Settings, *, url: str | None = None) -> Database:
    """Build engines for the configured URL (or `url`, e.g. the migration role's)."""
    url = url or settings.effective_database_url
    direct_reads: DirectReads | None = None
    if url.startswith("sqlite"):
        require_sqlite_directory(url)
        engine = _sqlite_engine(url, settings, begin="BEGIN")
        write_engine = _sqlite_engine(url, settings, begin="BEGIN IMMEDIATE")
        request_engine = engine
    else:
        engine = write_engine = _postgres_engine(url, settings)
        # Through PgBouncer in transaction mode, a statement outside a transaction may be prepared on
        # one server connection and executed on another; there, every read keeps its transaction.
        request_engine = engine if settings.db_pgbouncer else _autocommit_until_write(engine)
        if not settings.db_pgbouncer and engine.dialect.driver == "asyncpg" and settings.db_direct_pool_size > 0:
            direct_reads = DirectReads(
                engine, size=settings.db_direct_pool_size, acquire_timeout_s=settings.db_pool_timeout_s
            )
    reader = async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
    return Database(
        engine=engine,
        write_engine=write_engine,
        reader=reader,
        writer=async_sessionmaker(write_engine, expire_on_commit=False, autoflush=False),
        request_reader=reader
        if request_engine is engine
        else async_sessionmaker(request_engine, expire_on_commit=False, autoflush=False, info={INFO_KEY: direct_reads}),
        direct_reads=direct_reads,
    )


# Bound values are row data and credentials (an ID token, a PKCE verifier, a customer's address): with
# `hide_parameters`, SQLAlchemy leaves them out of its exception messages (which reach the error log with
# their traceback, and the error reports) and out of its statement log, should anyone switch that on.
HIDE_PARAMETERS = True


def _sqlite_engine(url: str, settings: Settings, *, begin: str) -> AsyncEngine:
    engine = create_async_engine(
        url,
        poolclass=WatchedPool,
        connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
        hide_parameters=HIDE_PARAMETERS,
    )
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
        # give every prepared statement a unique name (PgBouncer 1.18: docs/conventions.md, known traps).
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
            poolclass=WatchedPool,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_s,
        )
    # No pool_pre_ping: it costs three round trips (BEGIN, a ping, ROLLBACK) on every checkout. A
    # connection whose backend died fails its next statement instead; SQLAlchemy then invalidates
    # every connection pooled before the failure, and the unit of work retries a read once on a
    # fresh connection (a write fails with a 5xx, which releases its Idempotency-Key for a retry).
    # JSONB values (customer metadata, invoice lines) are parsed by pydantic-core's parser, about six
    # times faster than `json.loads`; a page of 100 customers parses 100 of them. It refuses a lone
    # UTF-16 surrogate escape, which PostgreSQL never stores in JSONB, so SQLite keeps `json.loads`.
    engine = create_async_engine(
        url, connect_args=connect_args, json_deserializer=from_json, hide_parameters=HIDE_PARAMETERS, **kwargs
    )
    # A slow query in PostgreSQL's log names the request that ran it (kit/sql_comment.py).
    tag_statements_with_request_id(engine)
    return engine


def _autocommit_until_write(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, in autocommit until a statement other than a plain SELECT opens a transaction.

    A read-only request then costs one round trip per query instead of BEGIN, query and COMMIT.
    Under READ COMMITTED (PostgreSQL's default) every statement sees its own snapshot anyway, so a
    read outside a transaction sees what it would have seen inside one. The first INSERT, UPDATE,
    DELETE, `SELECT ... FOR UPDATE`, savepoint or textual statement turns the connection back to
    transactional first: it and everything after it commit or roll back together, as in `writer`.
    Returning the connection to the pool restores the isolation level and rolls back what is open.
    """
    reads = engine.execution_options(isolation_level="AUTOCOMMIT")

    @event.listens_for(reads.sync_engine, "before_cursor_execute")
    def _begin_before_writing(
        conn: Connection,
        _cursor: DBAPICursor,
        _statement: str,
        _parameters: object,
        context: ExecutionContext | None,
        _executemany: bool,
    ) -> None:
        if _is_plain_select(context):
            return
        dbapi_connection: Any = conn.connection.dbapi_connection
        if getattr(dbapi_connection, "autocommit", False):
            # The asyncpg adapter begins a transaction before its next statement unless it is in
            # autocommit; its pool reset sets the isolation level back when the connection returns.
            dbapi_connection.isolation_level = None

    return reads


def _is_plain_select(context: ExecutionContext | None) -> bool:
    compiled = getattr(context, "compiled", None)
    statement = getattr(compiled, "statement", None)
    return isinstance(statement, Select) and statement._for_update_arg is None  # noqa: SLF001 - no public accessor
