"""Database pool metrics: connections in use, checkouts waiting, overflow connections.

SQLAlchemy's pool events cover checkout and checkin but not a checkout that waits, so the engines
use `WatchedPool`, SQLAlchemy's asyncio queue pool that tells its watchers whenever one of the three
numbers may have changed. Each process reports its own pools; under gunicorn the gauges are
`livesum`, so `/metrics` shows the total of the live processes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy.pool import AsyncAdaptedQueuePool

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.pool import ConnectionPoolEntry

    from shipyard.kit.db import Database

Watcher = Callable[["WatchedPool"], None]


class WatchedPool(AsyncAdaptedQueuePool):
    """A queue pool that counts checkouts waiting for a connection and reports every change."""

    # SQLAlchemy names a pool's logger after its class; without this, the pool's INFO lines ("Pool
    # disposed") would fall under the `shipyard` logger and reach the CLI's output.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.AsyncAdaptedQueuePool"

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # noqa: ANN401 - SQLAlchemy's pool arguments, as is
        super().__init__(*args, **kwargs)
        self.waiting = 0
        self.watchers: list[Watcher] = []

    @property
    def limit(self) -> int | None:
        """Connections this pool may hold at once (None: unlimited overflow)."""
        return None if self._max_overflow < 0 else self.size() + self._max_overflow

    def _do_get(self) -> ConnectionPoolEntry:
        limit = self.limit
        waits = limit is not None and self.checkedout() >= limit
        if waits:
            self.waiting += 1
            self._notify()
        try:
            return super()._do_get()
        finally:
            if waits:
                self.waiting -= 1
            self._notify()

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            super()._do_return_conn(record)
        finally:
            self._notify()

    def recreate(self) -> WatchedPool:
        """The fresh pool `dispose()` and invalidation build keeps this pool's watchers."""
        pool = super().recreate()
        assert isinstance(pool, WatchedPool)  # noqa: S101 - QueuePool.recreate builds self.__class__
        pool.watchers = self.watchers
        self._notify()
        return pool

    def _notify(self) -> None:
        for watcher in self.watchers:
            watcher(self)


class PoolMetrics:
    """`shipyard_db_pool_*{pool}` for the pools of the databases this process watches."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.in_use = Gauge(
            "shipyard_db_pool_connections_in_use",
            "Connections checked out of the pool now.",
            ["pool"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.waiting = Gauge(
            "shipyard_db_pool_waiting",
            "Checkouts waiting for a connection because the pool and its overflow are all in use.",
            ["pool"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.overflow = Gauge(
            "shipyard_db_pool_overflow_connections",
            "Connections open beyond the pool size (SHIPYARD_DB_POOL_SIZE).",
            ["pool"],
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._watched: set[int] = set()

    def watch(self, database: Database) -> None:
        """Report `database`'s pools: `main` on PostgreSQL, `read` and `write` on SQLite."""
        engines = {"main": database.engine} if database.engine is database.write_engine else {}
        engines = engines or {"read": database.engine, "write": database.write_engine}
        for name, engine in engines.items():
            self.watch_engine(name, engine)

    def watch_engine(self, name: str, engine: AsyncEngine) -> None:
        """Report `engine`'s pool as `pool=name` (a NullPool, SHIPYARD_DB_POOL_SIZE=0, holds nothing to report)."""
        pool = engine.pool
        if isinstance(pool, WatchedPool) and id(pool) not in self._watched:
            self._watched.add(id(pool))
            pool.watchers.append(self._reporter(name))
            self._reporter(name)(pool)

    def _reporter(self, name: str) -> Watcher:
        def report(pool: WatchedPool) -> None:
            in_use = pool.checkedout()
            self.in_use.labels(pool=name).set(in_use)
            self.waiting.labels(pool=name).set(pool.waiting)
            self.overflow.labels(pool=name).set(max(0, in_use - pool.size()))

        return report
