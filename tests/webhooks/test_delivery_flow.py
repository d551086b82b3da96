"""End to end: an API change becomes an event, a signed delivery reaches a real receiver, and is logged."""

from __future__ import annotations

from tests.fixtures.jobs import eventually
from tests.webhooks.conftest import Hooked


async def test_a_created_customer_reaches_the_receiver_signed_and_verifiable(hooked: Hooked) -> None:
    customer = await hooked.create_customer("Ada", **{"X-Request-ID": "req-ada-1"})
    [request] = await hooked.receiver.wait_for(1)
    payload = request.verify(hooked.endpoint["secret"])
    assert payload["type"] == "customer.created"
    assert payload["data"]["id"] == customer["id"]
    assert payload["data"]["email"] == "ada@example.com"
    assert request.webhook_id == payload["id"]
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.headers["content-type"] == "application/json"

    async def succeeded() -> list[dict[str, object]]:
        return [d for d in await hooked.deliveries() if d["status"] == "succeeded"]

    [delivery] = await eventually(succeeded)
    assert delivery["event_id"] == request.webhook_id
    assert delivery["attempts"] == 1
    assert delivery["last_status_code"] == 200
    assert delivery["request_id"] == "req-ada-1"
    detail = await hooked.delivery(delivery["id"])
    assert detail["attempt_log"][0]["response_body"] == "ok"
    assert detail["attempt_log"][0]["latency_ms"] >= 0
