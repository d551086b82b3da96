"""`GET /api/v1/events`: every change leaves an event with a snapshot; scoped, paginated, per tenant."""

from __future__ import annotations

from typing import Any

from tests.fixtures.tenants import create_tenant, issue_token
from tests.webhooks.conftest import Hooked

LINE = {"description": "Work", "quantity": 2, "unit_amount": 1250}


async def _events(hooked: Hooked, **params: Any) -> dict[str, Any]:
    response = await hooked.client.get("/api/v1/events", params=params, headers=hooked.headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def _invoice_lifecycle(hooked: Hooked) -> None:
    customer = await hooked.create_customer()
    base = f"/api/v1/customers/{customer['id']}"
    await hooked.client.patch(base, json={"name": "Ada L."}, headers=hooked.headers)
    for final in ("pay", "void"):
        invoice = await hooked.client.post(
            f"{base}/invoices", json={"currency": "EUR", "line_items": [LINE]}, headers=hooked.headers
        )
        item = f"{base}/invoices/{invoice.json()['id']}"
        assert (await hooked.client.post(f"{item}/finalize", headers=hooked.headers)).status_code == 200
        assert (await hooked.client.post(f"{item}/{final}", headers=hooked.headers)).status_code == 200
    assert (await hooked.client.delete(base, headers=hooked.headers)).status_code == 204


async def test_every_customer_and_invoice_change_is_an_event_with_a_snapshot(hooked: Hooked) -> None:
    await _invoice_lifecycle(hooked)
    events = (await _events(hooked, limit=100))["data"]
    assert [e["type"] for e in reversed(events)] == [
        "customer.created",
        "customer.updated",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.created",
        "invoice.finalized",
        "invoice.voided",
        "customer.archived",
    ]
    updated = next(e for e in events if e["type"] == "customer.updated")
    assert updated["data"]["name"] == "Ada L."
    paid = next(e for e in events if e["type"] == "invoice.paid")
    assert (paid["data"]["status"], paid["data"]["total"]) == ("paid", 2500)
    assert paid["data"]["paid_at"] is not None
    assert all(e["request_id"] for e in events)
    # Every one of them also reached the receiver, each verifiable.
    requests = await hooked.receiver.wait_for(9)
    assert sorted(r.webhook_id for r in requests) == sorted(e["id"] for e in events)


async def test_events_page_with_a_cursor_and_filter_by_type(hooked: Hooked) -> None:
    for name in ("A", "B", "C"):
        await hooked.create_customer(name)
    first = await _events(hooked, limit=2)
    assert len(first["data"]) == 2
    second = await _events(hooked, limit=2, cursor=first["next_cursor"])
    assert len(second["data"]) == 1
    assert second["next_cursor"] is None
    assert {e["id"] for e in first["data"]}.isdisjoint({e["id"] for e in second["data"]})
    assert (await _events(hooked, type="customer.archived"))["data"] == []
    bad = await hooked.client.get("/api/v1/events", params={"cursor": "nonsense"}, headers=hooked.headers)
    assert bad.status_code == 400


async def test_events_need_webhooks_read_and_stay_in_their_tenant(hooked: Hooked) -> None:
    await hooked.create_customer()
    token, _ = await issue_token(hooked.app, hooked.tenant, ["customers:read"])
    denied = await hooked.client.get("/api/v1/events", headers={"Authorization": f"Bearer {token}"})
    assert denied.status_code == 403
    assert denied.json()["missing_scopes"] == ["webhooks:read"]
    other = await create_tenant(hooked.app, "Globex", "globex")
    assert (await hooked.client.get("/api/v1/events", headers=other.headers)).json()["data"] == []


async def test_the_request_id_of_the_change_is_kept_on_the_event(hooked: Hooked) -> None:
    await hooked.create_customer(**{"X-Request-ID": "trace-42"})
    [event] = (await _events(hooked))["data"]
    assert event["request_id"] == "trace-42"
