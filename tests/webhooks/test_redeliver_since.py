"""Redeliver every event since an instant, including those created while the endpoint was disabled.

Issue 12, item 6: no delivery is created for a disabled endpoint, and redelivery needed one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from shipyard.models import Event
from shipyard.webhooks import service as webhook_service
from tests.fixtures.jobs import eventually
from tests.webhooks.conftest import Hooked

BASE = "/api/v1/webhook-endpoints"


async def _all_events_fanned_out(hooked: Hooked) -> bool:
    async with hooked.app.state.database.writer() as session:
        waiting = await session.scalar(select(func.count()).where(Event.dispatched_at.is_(None)))
    return waiting == 0


async def _missed_while_disabled(hooked: Hooked) -> tuple[str, list[dict[str, Any]]]:
    """Ada delivered normally, then Bob and Cy created while the endpoint was off; returns `since`."""
    path = f"{BASE}/{hooked.endpoint['id']}"
    await hooked.create_customer("Ada")
    await hooked.receiver.wait_for(1)
    since = datetime.now(UTC).isoformat()
    await hooked.client.patch(path, json={"enabled": False}, headers=hooked.headers)
    missed = [await hooked.create_customer("Bob"), await hooked.create_customer("Cy")]
    await eventually(lambda: _all_events_fanned_out(hooked))
    enabled = await hooked.client.patch(path, json={"enabled": True}, headers=hooked.headers)
    assert enabled.status_code == 200, enabled.text
    return since, missed


async def test_events_from_while_disabled_are_delivered_once_on_request(hooked: Hooked) -> None:
    since, missed = await _missed_while_disabled(hooked)
    assert len(await hooked.deliveries()) == 1  # only Ada's: nothing was created while it was off
    path = f"{BASE}/{hooked.endpoint['id']}/redeliver"
    response = await hooked.client.post(path, json={"since": since}, headers=hooked.headers)
    assert response.status_code == 202, response.text
    assert response.json()["deliveries_created"] == 2
    assert response.json()["next_since"] is None
    requests = await hooked.receiver.wait_for(3)
    received = [r.verify(hooked.endpoint["secret"])["data"]["id"] for r in requests[1:]]
    assert sorted(received) == sorted(c["id"] for c in missed)
    # Asking again queues nothing: every event since then was received or is on its way.
    again = await hooked.client.post(path, json={"since": since}, headers=hooked.headers)
    assert again.json()["deliveries_created"] == 0
    audit = await hooked.client.get("/api/v1/audit-events", params={"limit": 100}, headers=hooked.headers)
    logged = [e for e in audit.json()["data"] if e["action"] == "webhook_endpoint.redelivered_since"]
    assert sorted(e["details"]["deliveries"] for e in logged) == [0, 2]
    assert len(hooked.receiver.requests) == 3


async def test_a_large_backlog_is_queued_in_batches(hooked: Hooked, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webhook_service, "REDELIVER_BATCH", 1)
    since, missed = await _missed_while_disabled(hooked)
    path = f"{BASE}/{hooked.endpoint['id']}/redeliver"
    first = await hooked.client.post(path, json={"since": since}, headers=hooked.headers)
    assert first.json()["deliveries_created"] == 1
    assert first.json()["next_since"] is not None
    second = await hooked.client.post(path, json={"since": first.json()["next_since"]}, headers=hooked.headers)
    assert second.json()["deliveries_created"] == 1
    assert second.json()["next_since"] is None
    requests = await hooked.receiver.wait_for(3)
    assert sorted(r.verify(hooked.endpoint["secret"])["data"]["id"] for r in requests[1:]) == sorted(
        c["id"] for c in missed
    )


async def test_redelivering_since_to_a_disabled_endpoint_is_409(hooked: Hooked) -> None:
    path = f"{BASE}/{hooked.endpoint['id']}"
    await hooked.client.patch(path, json={"enabled": False}, headers=hooked.headers)
    response = await hooked.client.post(
        f"{path}/redeliver", json={"since": "2020-01-01T00:00:00Z"}, headers=hooked.headers
    )
    assert response.status_code == 409
    assert response.json()["code"] == "webhook_endpoint_disabled"


@pytest.mark.parametrize("since", ["2020-01-01T00:00:00", "yesterday", 1577836800], ids=["no-zone", "text", "number"])
async def test_since_must_be_an_instant_with_a_zone(hooked: Hooked, since: object) -> None:
    response = await hooked.client.post(
        f"{BASE}/{hooked.endpoint['id']}/redeliver", json={"since": since}, headers=hooked.headers
    )
    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"
