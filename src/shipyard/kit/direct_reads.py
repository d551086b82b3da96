"""Hot reads straight on asyncpg, for read-only requests on PostgreSQL.

Profiling a GET by ID showed SQLAlchemy's session machinery (checkout, autobegin, commit, release,
each through a greenlet) costing more CPU than the query, the auth and the JSON together. A request
that only reads needs none of it: there is nothing to flush and, in autocommit under READ COMMITTED,
no transaction whose snapshot could differ. So the request reader's session carries a small
`asyncpg.Pool`, and a repository may run a SELECT it built with SQLAlchemy Core on that pool instead:
`fetch()` compiles each statement once for asyncpg and returns the driver's records.

It is used only while the session itself has done nothing yet: once the request has read or written
through the session, it keeps using the session, so that it reads its own writes. It is off on
SQLite and behind PgBouncer in transaction mode: there a statement prepared outside a transaction may
be executed on another server connection (PgBouncer 1.18: docs/conventions.md, known traps). A
driver error or a pool that stays busy past the pool timeout returns None, and the caller runs the
same statement through the session, which reports the failure the usual way (and lets the unit of
work retry a dead connection).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from pydantic_core import from_json
from pydantic_core import to_json as _to_json
from sqlalchemy import inspect, select

from shipyard.kit.logging import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from sqlalchemy import Label, Select
    from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

# The key under which the request reader's sessions carry their `DirectReads` (`Session.info`).
INFO_KEY = "shipyard.direct_reads"
# What asyncpg raises on a failed query, a lost connection or a busy pool (unwrapped, used directly).
DRIVER_ERRORS: tuple[type[BaseException], ...] = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)

log = get_logger("shipyard.db")


def _to_json_text(value: Any) -> str:  # noqa: ANN401 - any JSON value
    return _to_json(value).decode()


async def _init_connection(connection: asyncpg.Connection) -> None:
    # The same JSON parsing as the engine's (pydantic-core, see kit/db.py): asyncpg hands json and
    # jsonb back as text unless told otherwise.
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, schema="pg_catalog", encoder=_to_json_text, decoder=from_json, format="text"
        )


async def _nothing_to_reset(_connection: asyncpg.Connection) -> None:
    # asyncpg's default reset runs `RESET ALL; UNLISTEN *; CLOSE ALL; ...` on every release: a round
    # trip per request. Only single SELECTs in autocommit run here, which leave no session state
    # behind (asyncpg still rolls back a transaction left open, before calling this).
    return


class DirectReads:
    """One process's pool for direct reads; opened by the app's lifespan, closed with the database."""

    def __init__(self, engine: AsyncEngine, *, size: int, acquire_timeout_s: float) -> None:
        self._engine = engine
        self._size = size
        self._acquire_timeout_s = acquire_timeout_s
        self._pool: asyncpg.Pool | None = None
        # Statement -> (the statement itself, its SQL for asyncpg, parameter names in order).
        self._compiled: dict[int, tuple[Select[Any], str, tuple[str, ...]]] = {}

    async def open(self) -> None:
        """Create the pool; it connects on demand (min_size 0), so a database that is down does not stop startup."""
        if self._pool is not None:
            return
        _args, connect_kwargs = self._engine.dialect.create_connect_args(self._engine.url)
        server_settings = {"application_name": "shipyard"}
        self._pool = await asyncpg.create_pool(
            min_size=0,
            max_size=self._size,
            init=_init_connection,
            reset=_nothing_to_reset,
            server_settings=server_settings,
            **connect_kwargs,
        )

    async def close(self) -> None:
        """Close the pool (connections in use are waited for, up to a bound)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), timeout=10)
            except TimeoutError:
                pool.terminate()

    async def fetch(self, statement: Select[Any], params: dict[str, Any]) -> list[asyncpg.Record] | None:
        """The statement's rows, or None when the pool is closed or the driver failed."""
        pool = self._pool
        if pool is None:
            return None
        sql, names = self._sql(statement)
        try:
            # A timeout costs an asyncio timer per request; it only matters when the pool may make us
            # wait. `asyncio.timeout` rather than asyncpg's own `acquire(timeout=...)`, which runs the
            # wait in a task of its own (a task per request, when the pool is busy under load).
            if pool.get_idle_size():
                connection = await pool.acquire()
            else:
                async with asyncio.timeout(self._acquire_timeout_s):
                    connection = await pool.acquire()
            try:
                rows: list[asyncpg.Record] = await connection.fetch(sql, *(params.get(name) for name in names))
            finally:
                await pool.release(connection)
        except DRIVER_ERRORS as exc:
            log.warning("direct_read_failed", error=type(exc).__name__)
            return None
        return rows

    def _sql(self, statement: Select[Any]) -> tuple[str, tuple[str, ...]]:
        cached = self._compiled.get(id(statement))
        if cached is None or cached[0] is not statement:
            compiled = statement.compile(dialect=self._engine.dialect)
            cached = (statement, compiled.string, tuple(compiled.positiontup or ()))
            self._compiled[id(statement)] = cached
        return cached[1], cached[2]


def labelled_columns(model: type[Any]) -> list[Label[Any]]:
    """Every mapped column of `model`, labelled with its attribute name: a row of them builds a `model`."""
    mapper = inspect(model)
    return [prop.columns[0].label(prop.key) for prop in mapper.column_attrs]


RowT = TypeVar("RowT", bound=tuple[Any, ...])


class RowShape(Generic[RowT]):
    """A model's columns read as plain rows of `row_type`: the one fast-read pattern (decision 0007).

    Building an instrumented ORM object costs more CPU than reading its row, and matching every
    row's values to fields by name costs a third of a page's CPU. So the row type's fields are
    checked against the model's mapped columns once, when the repository module is imported (a
    column added to the model but not to the row type fails at start-up instead of shifting
    values), and each row is then built by position from a statement over exactly those columns.
    """

    def __init__(self, row_type: type[RowT], model: type[Any]) -> None:
        self.columns = labelled_columns(model)
        names = tuple(column.name for column in self.columns)
        # Read at run time: type checkers see a NamedTuple's `_fields` and `_make` on its instances only.
        fields = getattr(row_type, "_fields", None)
        if names != fields:
            msg = f"{model.__name__} columns {names} do not match {row_type.__name__} {fields}"
            raise TypeError(msg)
        self._make: Callable[[Iterable[Any]], RowT] = getattr(row_type, "_make")  # noqa: B009 - see above

    def select(self) -> Select[Any]:
        """A SELECT of the model's columns in the row type's order; add WHERE clauses to it."""
        return select(*self.columns)

    def build(self, found: Iterable[Mapping[str, Any]]) -> list[RowT]:
        """The rows of a statement made by `select()`, by position (its columns are the fields)."""
        make = self._make
        return [make(row.values()) for row in found]


async def fetch(session: AsyncSession, statement: Select[Any], params: dict[str, Any]) -> list[asyncpg.Record] | None:
    """Run `statement` directly when `session` may read past itself; None means: use the session.

    `statement` must be built once and reused (a module constant, or cached per shape), with every
    value a `bindparam` named in `params`: its SQL is compiled once and remembered by identity.
    """
    direct: DirectReads | None = session.info.get(INFO_KEY)
    if direct is None or session.in_transaction():
        return None
    return await direct.fetch(statement, params)


async def rows(session: AsyncSession, statement: Select[Any], params: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
    """The statement's rows by column name: read directly when `fetch` may, else through the session."""
    direct: Sequence[Mapping[str, Any]] | None = await fetch(session, statement, params)  # asyncpg records map names
    if direct is not None:
        return direct
    loaded: Sequence[Mapping[str, Any]] = (await session.execute(statement, params)).mappings().all()
    return loaded


async def column_rows(
    session: AsyncSession, statement: Select[Any], params: dict[str, Any]
) -> Sequence[Mapping[str, Any]]:
    """`rows` for a SELECT of plain columns (no entity): the fallback runs on the session's connection.

    `session.execute` sends even a column SELECT through the ORM's result machinery, a tenth of a
    page's CPU behind PgBouncer (decision 0064); Core returns the same rows, on the connection of
    the session's transaction (so a request still reads its own writes), flushing first when the
    session autoflushes, as `session.execute` would.
    """
    direct: Sequence[Mapping[str, Any]] | None = await fetch(session, statement, params)
    if direct is not None:
        return direct
    if session.autoflush:
        await session.flush()
    connection = await session.connection()
    loaded: Sequence[Mapping[str, Any]] = (await connection.execute(statement, params)).mappings().all()
    return loaded
