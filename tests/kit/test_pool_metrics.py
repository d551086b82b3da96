"""`shipyard_db_pool_*`: connections in use, checkouts waiting, overflow, on a real database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shipyard.kit.db import create_database
from shipyard.kit.pool_metrics import PoolMetrics, WatchedPool
from shipyard.settings import Settings
from tests.fixtures.jobs import eventually


def _value(registry: CollectorRegistry, name: str, pool: str) -> float | None:
    return registry.get_sample_value(name, {"pool": pool})


async def test_connections_in_use_follow_checkouts_of_the_configured_pool(settings: Settings) -> None:
    database = create_database(settings)
    registry = CollectorRegistry()
    PoolMetrics(registry).watch(database)
    pool = "main" if database.engine is database.write_engine else "write"
    in_use = "shipyard_db_pool_connections_in_use"
    try:
        assert _value(registry, in_use, pool) == 0
        async with database.writer() as session:
            await session.execute(text("SELECT 1"))
            assert _value(registry, in_use, pool) == 1
        assert _value(registry, in_use, pool) == 0
    finally:
        await database.dispose()


async def test_a_checkout_waiting_for_a_full_pool_is_counted_and_overflow_is_reported(tmp_path: Path) -> None:
    engine = create_async_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'pool.db'}", poolclass=WatchedPool, pool_size=1, max_overflow=1
    )
    registry = CollectorRegistry()
    metrics = PoolMetrics(registry)
    metrics.watch_engine("test", engine)
    try:
        async with engine.connect() as first, engine.connect() as second:
            await first.execute(text("SELECT 1"))
            await second.execute(text("SELECT 1"))
            assert _value(registry, "shipyard_db_pool_connections_in_use", "test") == 2
            assert _value(registry, "shipyard_db_pool_overflow_connections", "test") == 1
            assert _value(registry, "shipyard_db_pool_waiting", "test") == 0

            async def third() -> None:
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))

            waiter = asyncio.create_task(third())

            async def waiting() -> bool:
                return _value(registry, "shipyard_db_pool_waiting", "test") == 1

            await eventually(waiting, timeout=5)
        await asyncio.wait_for(waiter, timeout=5)
        assert _value(registry, "shipyard_db_pool_waiting", "test") == 0
        assert _value(registry, "shipyard_db_pool_connections_in_use", "test") == 0
        assert _value(registry, "shipyard_db_pool_overflow_connections", "test") == 0
    finally:
        await engine.dispose()
