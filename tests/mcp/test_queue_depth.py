"""`queue_depth`: the organisation's outbox backlog, delivery and email queues, and disabled endpoints."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from mcp.client import Client
from sqlalchemy import update

from shipyard.models import EmailMessage, Role, WebhookDelivery, WorkStatus
from shipyard.models.base import utcnow
from shipyard.settings import Settings
from tests.fixtures.jobs import eventually, fast, jobs_app
from tests.fixtures.mcp import mcp_session, serve_on_loopback
from tests.fixtures.receiver import Receiver, Reply
from tests.fixtures.seed import Seeded
from tests.fixtures.tenants import Tenant, add_member, create_tenant, issue_token

HOUR = timedelta(hours=1)


async def call(client: Client, tool: str) -> dict[str, Any]:
    """A successful tool call's structured answer, with its text rendering as `_text`."""
    result = await client.call_tool(tool, {})
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert result.is_error is False, text
    assert result.structured_content is not None
    return {**result.structured_content, "_text": text}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Endpoints on loopback may be registered (no job runs here, so nothing is sent to them)."""
    return settings.model_copy(update={"webhook_allowed_networks": ["127.0.0.0/8"]})


@dataclass
class Queues:
    """What one organisation has queued, by label."""

    endpoints: list[str] = field(default_factory=list)
    deliveries: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)


async def _disable(client: httpx.AsyncClient, tenant: Tenant, endpoint_id: str) -> None:
    patched = await client.patch(
        f"/api/v1/webhook-endpoints/{endpoint_id}", json={"enabled": False}, headers=tenant.headers
    )
    assert patched.status_code == 200, patched.text


async def _endpoint(client: httpx.AsyncClient, tenant: Tenant, name: str, *, enabled: bool = True) -> str:
    url = f"http://127.0.0.1:9/{tenant.slug}/{name}"
    created = await client.post(
        "/api/v1/webhook-endpoints", json={"url": url, "event_types": ["*"]}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    endpoint_id: str = created.json()["id"]
    if not enabled:
        await _disable(client, tenant, endpoint_id)
    return endpoint_id


async def _pings(client: httpx.AsyncClient, tenant: Tenant, endpoint_id: str, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        ping = await client.post(f"/api/v1/webhook-endpoints/{endpoint_id}/test", headers=tenant.headers)
        assert ping.status_code == 202, ping.text
        ids.append(ping.json()["id"])
    return ids


async def _send(client: httpx.AsyncClient, seeded: Seeded, labels: list[str]) -> list[str]:
    ids = []
    for label in labels:
        path = f"/api/v1/customers/{seeded.invoice_customers[label]}/invoices/{seeded.invoices[label]}/send"
        sent = await client.post(path, headers=seeded.tenant.headers)
        assert sent.status_code == 202, sent.text
        ids.append(sent.json()["id"])
    return ids


async def _set(app: FastAPI, model: type[WebhookDelivery | EmailMessage], row_id: str, **values: Any) -> None:
    """Put a queued row in the state a worker would leave it in (claimed, retrying, failed, sent)."""
    async with app.state.database.writer() as session:
        await session.execute(update(model).where(model.id == row_id).values(**values))
        await session.commit()


async def _event_backlog(client: httpx.AsyncClient, tenant: Tenant) -> int:
    """Events the relay has not fanned out yet: without jobs, all but the pings (sent straight to one endpoint)."""
    listed = await client.get("/api/v1/events", params={"limit": 100}, headers=tenant.headers)
    assert listed.status_code == 200, listed.text
    assert listed.json()["next_cursor"] is None
    return sum(event["type"] != "ping" for event in listed.json()["data"])


@pytest.fixture
async def acme_queues(mcp_app: FastAPI, client: httpx.AsyncClient, acme: Seeded) -> Queues:
    """Acme: 2 endpoints (1 disabled); 5 deliveries and 4 emails in every state a queue knows."""
    now = utcnow()
    queues = Queues()
    queues.endpoints = [
        await _endpoint(client, acme.tenant, "a"),
        await _endpoint(client, acme.tenant, "b", enabled=False),
    ]
    waiting, retrying, in_flight, failed, succeeded = await _pings(client, acme.tenant, queues.endpoints[0], 5)
    queues.deliveries = [waiting, retrying, in_flight, failed, succeeded]
    await _set(mcp_app, WebhookDelivery, waiting, created_at=now - HOUR)
    await _set(mcp_app, WebhookDelivery, retrying, attempts=2, next_attempt_at=now + HOUR, last_status_code=500)
    # Held by a worker, and the oldest pending item: in flight is still pending.
    await _set(
        mcp_app,
        WebhookDelivery,
        in_flight,
        attempts=1,
        lease_token="t" * 32,
        leased_until=now + HOUR,
        created_at=now - 2 * HOUR,
    )
    # A lease that ran out (its worker died) is waiting again, not in flight.
    await _set(mcp_app, WebhookDelivery, waiting, lease_token="d" * 32, leased_until=now - HOUR)
    await _set(mcp_app, WebhookDelivery, failed, status=WorkStatus.FAILED, attempts=11, created_at=now - 5 * HOUR)
    await _set(mcp_app, WebhookDelivery, succeeded, status=WorkStatus.SUCCEEDED, attempts=1, created_at=now - 9 * HOUR)
    queues.emails = await _send(client, acme, ["eur_10d", "eur_45d", "jpy_75d", "kwd_120d"])
    email_waiting, email_in_flight, email_failed, email_sent = queues.emails
    await _set(mcp_app, EmailMessage, email_waiting, attempts=1, created_at=now - 3 * HOUR)
    await _set(mcp_app, EmailMessage, email_in_flight, lease_token="e" * 32, leased_until=now + HOUR)
    await _set(mcp_app, EmailMessage, email_failed, status=WorkStatus.FAILED, created_at=now - 7 * HOUR)
    await _set(mcp_app, EmailMessage, email_sent, status=WorkStatus.SUCCEEDED, created_at=now - 8 * HOUR)
    return queues


@pytest.fixture
async def globex_queues(mcp_app: FastAPI, client: httpx.AsyncClient, globex: Seeded) -> Queues:
    """Globex: 3 disabled endpoints, and old pending and failed work that must never count for Acme."""
    now = utcnow()
    queues = Queues()
    queues.endpoints = [await _endpoint(client, globex.tenant, name) for name in ("x", "y", "z")]
    # A disabled endpoint refuses pings, so the first one is pinged before all three are switched off.
    queues.deliveries = await _pings(client, globex.tenant, queues.endpoints[0], 4)
    for endpoint_id in queues.endpoints:
        await _disable(client, globex.tenant, endpoint_id)
    await _set(mcp_app, WebhookDelivery, queues.deliveries[0], created_at=now - 100 * HOUR)
    await _set(mcp_app, WebhookDelivery, queues.deliveries[1], leased_until=now + HOUR, lease_token="g" * 32)
    await _set(mcp_app, WebhookDelivery, queues.deliveries[2], status=WorkStatus.FAILED)
    await _set(mcp_app, WebhookDelivery, queues.deliveries[3], status=WorkStatus.FAILED, attempts=3)
    queues.emails = await _send(client, globex, ["eur_200d", "eur_200d"])
    await _set(mcp_app, EmailMessage, queues.emails[0], created_at=now - 200 * HOUR, attempts=4)
    await _set(mcp_app, EmailMessage, queues.emails[1], status=WorkStatus.FAILED)
    return queues


@pytest.mark.usefixtures("acme_queues")
async def test_queue_depth_counts_each_state_of_the_organisations_queues(
    base_url: str, client: httpx.AsyncClient, acme: Seeded, globex_queues: Queues
) -> None:
    async with mcp_session(base_url, acme.tenant.token) as mcp:
        depth = await call(mcp, "queue_depth")

    assert depth["outbox_backlog"] == await _event_backlog(client, acme.tenant) > 0
    deliveries = depth["webhook_deliveries"]
    assert {k: v for k, v in deliveries.items() if k != "oldest_pending_age_s"} == {
        "waiting": 2,
        "retrying": 1,
        "in_flight": 1,
        "failed": 1,
    }
    # The in-flight delivery, created two hours ago; not the failed or the succeeded ones, older still.
    assert 7200 <= deliveries["oldest_pending_age_s"] < 7200 + 120
    emails = depth["emails"]
    assert {k: v for k, v in emails.items() if k != "oldest_pending_age_s"} == {
        "waiting": 1,
        "retrying": 1,
        "in_flight": 1,
        "failed": 1,
    }
    assert 3 * 3600 <= emails["oldest_pending_age_s"] < 3 * 3600 + 120
    assert (depth["endpoints"], depth["disabled_endpoints"]) == (2, 1)
    assert "2 waiting (1 retrying), 1 in flight, 1 failed" in depth["_text"]
    assert "Webhook endpoints: 2, of which 1 disabled." in depth["_text"]
    dumped = str(depth)
    for foreign in [*globex_queues.endpoints, *globex_queues.deliveries, *globex_queues.emails, "globex"]:
        assert foreign not in dumped


@pytest.mark.usefixtures("acme_queues", "globex_queues")
async def test_queue_depth_of_an_organisation_with_nothing_queued_is_zero(base_url: str, mcp_app: FastAPI) -> None:
    quiet = await create_tenant(mcp_app, "Quiet", "quiet")
    async with mcp_session(base_url, quiet.token) as mcp:
        depth = await call(mcp, "queue_depth")
    empty = {"waiting": 0, "retrying": 0, "in_flight": 0, "failed": 0, "oldest_pending_age_s": None}
    assert depth["webhook_deliveries"] == empty
    assert depth["emails"] == empty
    assert (depth["outbox_backlog"], depth["endpoints"], depth["disabled_endpoints"]) == (0, 0, 0)


@pytest.mark.usefixtures("globex_queues")
async def test_the_other_organisation_sees_only_its_own_queues(
    base_url: str, client: httpx.AsyncClient, globex: Seeded, acme_queues: Queues
) -> None:
    async with mcp_session(base_url, globex.tenant.token) as mcp:
        depth = await call(mcp, "queue_depth")
    assert depth["outbox_backlog"] == await _event_backlog(client, globex.tenant)
    assert depth["webhook_deliveries"]["waiting"] == 1
    assert depth["webhook_deliveries"]["in_flight"] == 1
    assert depth["webhook_deliveries"]["failed"] == 2
    assert depth["webhook_deliveries"]["retrying"] == 0
    assert depth["emails"]["waiting"] == depth["emails"]["retrying"] == depth["emails"]["failed"] == 1
    assert 200 * 3600 <= depth["emails"]["oldest_pending_age_s"] < 200 * 3600 + 120
    assert (depth["endpoints"], depth["disabled_endpoints"]) == (3, 3)
    dumped = str(depth)
    for foreign in [*acme_queues.endpoints, *acme_queues.deliveries, *acme_queues.emails, "acme"]:
        assert foreign not in dumped


@pytest.mark.parametrize(("role", "allowed"), [(Role.VIEWER, False), (Role.MEMBER, True)])
async def test_queue_depth_needs_a_role_that_may_read_webhooks(
    base_url: str, mcp_app: FastAPI, acme: Seeded, role: Role, allowed: bool
) -> None:
    user = await add_member(mcp_app, acme.tenant, f"{role}@acme.example", role)
    secret, _ = await issue_token(mcp_app, acme.tenant, ["mcp:read"], user_id=user)
    async with mcp_session(base_url, secret) as mcp:
        result = await mcp.call_tool("queue_depth", {})
    assert result.is_error is not allowed
    if not allowed:
        assert "webhooks:read" in result.content[0].text  # type: ignore[union-attr]


async def test_queue_depth_follows_real_deliveries_to_a_receiver_that_is_gone(settings: Settings) -> None:
    """With jobs running: a 410 fails the delivery and disables the endpoint, and the queue drains."""
    async with Receiver(lambda _request: Reply(status=410)) as receiver, jobs_app(fast(settings)) as (app, client):
        tenant = await create_tenant(app, "Acme", "acme")
        created = await client.post(
            "/api/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["*"]}, headers=tenant.headers
        )
        assert created.status_code == 201, created.text
        customer = await client.post(
            "/api/v1/customers", json={"name": "Ada", "email": "ada@example.com"}, headers=tenant.headers
        )
        assert customer.status_code == 201, customer.text
        async with serve_on_loopback(app) as url, mcp_session(url, tenant.token) as mcp:

            async def drained() -> dict[str, Any] | None:
                depth = await call(mcp, "queue_depth")
                settled = depth["webhook_deliveries"]["failed"] == 1 and depth["emails"]["waiting"] == 0
                return depth if settled and depth["emails"]["in_flight"] == 0 else None

            depth = await eventually(drained)
    assert len(receiver.requests) == 1
    assert depth["outbox_backlog"] == 0
    assert depth["webhook_deliveries"] == {
        "waiting": 0,
        "retrying": 0,
        "in_flight": 0,
        "failed": 1,
        "oldest_pending_age_s": None,
    }
    assert (depth["endpoints"], depth["disabled_endpoints"]) == (1, 1)
