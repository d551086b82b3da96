"""The request ID is the join key: one request's ID is on everything it caused, in logs and in rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shipyard.models import Event, WebhookDelivery
from tests.fixtures.jobs import eventually
from tests.fixtures.log_capture import production_logs
from tests.webhooks.conftest import Hooked


async def test_one_requests_id_joins_its_access_line_audit_event_outbox_event_job_and_delivery(
    hooked: Hooked,
) -> None:
    request_id = "req-join-key-1"
    with production_logs() as logs:
        customer = await hooked.create_customer("Ada", **{"X-Request-ID": request_id})
        await hooked.receiver.wait_for(1)

        async def attempt_logged() -> list[dict[str, Any]]:
            return logs.events("webhook_attempt")

        [attempt] = await eventually(attempt_logged)

    # The access line of the request, and the delivery job's line for the webhook it caused.
    [access] = [line for line in logs.events("request") if line.get("request_id") == request_id]
    assert access["route"] == "/api/v1/customers"
    assert access["status"] == 201
    assert attempt["request_id"] == request_id
    assert attempt["result"] == "delivered"

    # The audit event, through the API.
    response = await hooked.client.get("/api/v1/audit-events", headers=hooked.headers)
    assert response.status_code == 200, response.text
    [audited] = [item for item in response.json()["data"] if item.get("target_id") == customer["id"]]
    assert audited["request_id"] == request_id

    # The outbox event row (which the relay job turned into deliveries) and the delivery row.
    async with hooked.app.state.database.reader() as session:
        event = await session.scalar(select(Event).where(Event.type == "customer.created"))
        delivery = await session.scalar(select(WebhookDelivery))
    assert event is not None
    assert event.request_id == request_id
    assert delivery is not None
    assert delivery.request_id == request_id
    assert delivery.event_id == event.id
