"""The app's engine through PgBouncer in transaction mode, where consecutive transactions change server.

The sequence is deterministic: connection A prepares a statement on server S1; B then holds S1 in
a transaction, so A's next transaction runs on S2, where A's statement was never prepared.
"""

from __future__ import annotations

import pytest
from sqlalchemy import text

from shipyard.kit.db import create_database
from shipyard.settings import Settings
from tests.e2e.conftest import Stack
from tests.fixtures.servers import LOOPBACK

pytestmark = [pytest.mark.e2e, pytest.mark.postgres_only]

QUERY = text("SELECT count(*) FROM organizations WHERE slug = :slug")


def _url(stack: Stack, query: str = "") -> str:
    return f"postgresql+asyncpg://shipyard_app:{stack.app_password}@{LOOPBACK}:{stack.pgbouncer.port}/shipyard{query}"


async def _two_transactions_on_different_servers(url: str) -> None:
    database = create_database(Settings.model_validate({"env": "test", "database_url": url, "db_pgbouncer": True}))
    try:
        async with database.engine.connect() as a, database.engine.connect() as b:
            await a.execute(QUERY, {"slug": "acme"})
            await a.commit()
            await b.execute(text("SELECT 1"))  # B's open transaction now holds A's former server
            assert (await a.execute(QUERY, {"slug": "acme"})).scalar_one() == 1
            await a.commit()
            await b.commit()
    finally:
        await database.dispose()


async def test_pgbouncer_setting_alone_survives_transaction_pooling(stack: Stack) -> None:
    await _two_transactions_on_different_servers(_url(stack))
