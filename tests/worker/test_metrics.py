"""The outbox and delivery metrics appear on the app's /metrics."""

from __future__ import annotations

import re

from sqlalchemy import update

from shipyard.models import WebhookEndpoint
from tests.fixtures.jobs import eventually, runtime_of
from tests.webhooks.conftest import Hooked


def _value(text: str, name: str) -> float | None:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


async def test_delivery_results_latency_backlog_and_disabled_endpoints_are_exported(hooked: Hooked) -> None:
    await hooked.create_customer()
    await hooked.receiver.wait_for(1)

    async def counted() -> str | None:
        text = (await hooked.client.get("/metrics")).text
        return text if _value(text, 'shipyard_webhook_deliveries_total{result="succeeded"}') == 1.0 else None

    text = await eventually(counted)
    assert _value(text, "shipyard_webhook_delivery_latency_seconds_count") == 1.0
    async with hooked.app.state.database.writer() as session:
        await session.execute(update(WebhookEndpoint).values(enabled=False))
        await session.commit()
    runtime = runtime_of(hooked.app)
    async with hooked.app.state.database.reader() as session:
        await runtime.metrics.refresh(session)
    text = (await hooked.client.get("/metrics")).text
    assert _value(text, "shipyard_webhook_disabled_endpoints") == 1.0
    assert _value(text, "shipyard_outbox_backlog") == 0.0
    assert _value(text, "shipyard_webhook_oldest_pending_delivery_age_seconds") == 0.0
