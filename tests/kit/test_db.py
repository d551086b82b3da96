"""The request reader on PostgreSQL: no BEGIN and COMMIT for plain reads, a real transaction from the first write."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.kit.db import Database, create_database
from shipyard.models import Organization
from shipyard.settings import Settings

pytestmark = pytest.mark.postgres_only

LOCK_NOWAIT = "SELECT 1 FROM organizations WHERE slug = 'locked' FOR UPDATE NOWAIT"


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The app's engines on this test's database, with one pooled connection (so every session reuses it)."""
    db = create_database(settings.model_copy(update={"db_pool_size": 1, "db_max_overflow": 0}))
    yield db
    await db.dispose()


async def _clock_moves(session: AsyncSession) -> bool:
    """Whether `now()` changes between two statements: it is frozen for the length of a transaction."""
    first = await session.scalar(select(func.now()))
    await asyncio.sleep(0.02)
    second: datetime | None = await session.scalar(select(func.now()))
    return first != second


async def _organization_exists(database: Database, slug: str) -> bool:
    async with database.reader() as session:
        return await session.scalar(select(func.count()).where(Organization.slug == slug)) == 1


async def test_plain_reads_of_a_request_run_without_a_transaction(database: Database) -> None:
    async with database.request_reader() as session:
        assert await _clock_moves(session)
    async with database.reader() as session:
        assert not await _clock_moves(session)


async def test_first_write_of_a_read_session_opens_a_transaction_that_can_roll_back(database: Database) -> None:
    async with database.request_reader() as session:
        await session.scalar(select(func.count()).select_from(Organization))
        session.add(Organization(name="Rolled back", slug="rolled-back"))
        await session.flush()
        assert not await _clock_moves(session)
        await session.rollback()
    assert not await _organization_exists(database, "rolled-back")

    async with database.request_reader() as session:
        session.add(Organization(name="Kept", slug="kept"))
        await session.flush()
        await session.commit()
    assert await _organization_exists(database, "kept")


async def test_select_for_update_in_a_read_session_holds_its_lock_until_the_end(
    database: Database, settings: Settings
) -> None:
    async with database.writer() as session:
        session.add(Organization(name="Locked", slug="locked"))
        await session.commit()
    other = create_database(settings)
    try:
        async with database.request_reader() as session:
            await session.scalar(select(Organization).where(Organization.slug == "locked").with_for_update())
            async with other.writer() as competitor:
                with pytest.raises(DBAPIError, match="could not obtain lock"):
                    await competitor.execute(
                        text("SELECT 1 FROM organizations WHERE slug = 'locked' FOR UPDATE NOWAIT")
                    )
    finally:
        await other.dispose()


async def test_a_connection_back_in_the_pool_forgets_how_the_last_session_used_it(database: Database) -> None:
    async with database.request_reader() as session:
        session.add(Organization(name="Promoted", slug="promoted"))
        await session.flush()
        await session.commit()
    # The single pooled connection went back transactional, then autocommit again for the next read.
    async with database.reader() as session:
        assert not await _clock_moves(session)
    async with database.request_reader() as session:
        assert await _clock_moves(session)
    async with database.writer() as session:
        assert not await _clock_moves(session)


async def test_behind_pgbouncer_reads_keep_their_transaction(settings: Settings) -> None:
    # In transaction mode, a statement outside a transaction could be prepared on one server
    # connection and executed on another.
    database = create_database(settings.model_copy(update={"db_pgbouncer": True}))
    try:
        async with database.request_reader() as session:
            assert not await _clock_moves(session)
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    "document",
    ['{"name": "Zoë 😀", "nested": {"list": [1, 2.5, -0.0, null, true]}}', "12345678901234567890123", '"\\u00e9"'],
    ids=["unicode-and-nesting", "big-integer", "escaped-text"],
)
async def test_jsonb_reads_back_what_json_loads_reads(database: Database, document: str) -> None:
    async with database.request_reader() as session:
        value = await session.scalar(select(func.cast(text(":document"), JSONB)), {"document": document})
    assert value == json.loads(document)
