"""The outbox relay: nothing from a rolled-back transaction, disjoint claims, request IDs into job logs."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from sqlalchemy import func, select

from shipyard.customers import service as customer_service
from shipyard.customers.schemas import CustomerCreate
from shipyard.events import repository as event_repository
from shipyard.events import service as event_service
from shipyard.identity.principal import Principal
from shipyard.identity.scopes import ROLE_SCOPES
from shipyard.kit.logging import configure_logging
from shipyard.models import Event, Role
from tests.webhooks.conftest import Hooked


def _owner(hooked: Hooked) -> Principal:
    return Principal(hooked.tenant.organization_id, hooked.tenant.user_id, Role.OWNER, ROLE_SCOPES[Role.OWNER])


async def test_an_outbox_row_written_in_a_rolled_back_transaction_is_never_sent(hooked: Hooked) -> None:
    async with hooked.app.state.database.writer() as session:
        await customer_service.create(session, _owner(hooked), CustomerCreate(name="Ghost", email="g@example.com"))
        await session.flush()  # the event row exists inside the transaction...
        assert await session.scalar(select(func.count()).select_from(Event)) == 1
        await session.rollback()  # ...and goes with it
    await hooked.create_customer("Real")
    [request] = await hooked.receiver.wait_for(1)
    await asyncio.sleep(0.5)  # ten relay polls later, still nothing else
    assert len(hooked.receiver.requests) == 1
    assert request.verify(hooked.endpoint["secret"])["data"]["name"] == "Real"
    async with hooked.app.state.database.reader() as session:
        assert await session.scalar(select(func.count()).select_from(Event)) == 1


async def test_work_queued_without_a_wake_is_found_by_the_poll(hooked: Hooked) -> None:
    """A process with no relay of its own (a CLI, another web process) still gets its events delivered."""
    async with hooked.app.state.database.writer() as session:
        await event_service.emit(session, _owner(hooked), "customer.updated", {"id": "cus_x"})
        session.sync_session.info.clear()  # as if the wake had been lost
        await session.commit()
    [request] = await hooked.receiver.wait_for(1)
    assert request.verify(hooked.endpoint["secret"])["type"] == "customer.updated"


@pytest.mark.postgres_only
async def test_two_relays_never_claim_the_same_rows(hooked: Hooked) -> None:
    async with hooked.app.state.database.writer() as session:
        for n in range(10):
            await event_service.emit(session, _owner(hooked), "customer.updated", {"n": n})
        session.sync_session.info.clear()  # keep the running relay out of it
        await hooked.app.state.jobs.close()  # and stop it: this test claims by hand
        await session.commit()
    database = hooked.app.state.database
    async with database.writer() as first, database.writer() as second:
        claimed_first = await event_repository.claim_undispatched(first, 6)
        claimed_second = await event_repository.claim_undispatched(second, 6)  # skips the 6 locked rows
        assert len(claimed_first) == 6
        assert len(claimed_second) == 4
        assert {e.id for e in claimed_first}.isdisjoint({e.id for e in claimed_second})
        await first.rollback()
        await second.rollback()


async def test_jobs_log_the_request_id_of_the_request_that_caused_them(hooked: Hooked) -> None:
    stream = io.StringIO()
    configure_logging(json_lines=True, level="INFO", stream=stream)
    try:
        await hooked.create_customer(**{"X-Request-ID": "req-logged-7"})
        await hooked.receiver.wait_for(1)
        await asyncio.sleep(0.3)
    finally:
        configure_logging(json_lines=True, level="WARNING")
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    attempts = [line for line in lines if line.get("event") == "webhook_attempt"]
    assert attempts, lines
    assert attempts[0]["request_id"] == "req-logged-7"
    assert attempts[0]["job"] == "webhooks.deliver"
    assert attempts[0]["result"] == "delivered"
