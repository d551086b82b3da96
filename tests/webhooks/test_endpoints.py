"""The webhook endpoints API: CRUD, scopes, tenancy, audit, test pings and redelivery."""

from __future__ import annotations

from typing import Any

from shipyard.models import WebhookEndpoint
from tests.fixtures.jobs import eventually
from tests.fixtures.tenants import create_tenant, issue_token
from tests.webhooks.conftest import Hooked

BASE = "/api/v1/webhook-endpoints"


async def _audit_actions(hooked: Hooked) -> list[str]:
    response = await hooked.client.get("/api/v1/audit-events", params={"limit": 100}, headers=hooked.headers)
    return [e["action"] for e in response.json()["data"]]


async def test_create_shows_the_secret_once_and_reads_never_do(hooked: Hooked) -> None:
    assert hooked.endpoint["secret"].startswith("whsec_")
    assert hooked.endpoint["event_types"] == ["*"]
    listed = await hooked.client.get(BASE, headers=hooked.headers)
    assert [e["id"] for e in listed.json()["data"]] == [hooked.endpoint["id"]]
    assert "secret" not in listed.json()["data"][0]
    assert "secret" not in await hooked.read_endpoint()


async def test_update_disable_enable_and_delete_are_audited(hooked: Hooked) -> None:
    path = f"{BASE}/{hooked.endpoint['id']}"
    read = await hooked.client.get(path, headers=hooked.headers)
    stale = read.headers["etag"]
    patched = await hooked.client.patch(
        path, json={"event_types": ["invoice.paid"], "enabled": False}, headers=hooked.headers
    )
    assert patched.status_code == 200
    assert patched.json()["event_types"] == ["invoice.paid"]
    assert (patched.json()["enabled"], patched.json()["disabled_reason"]) == (False, "manual")
    conflict = await hooked.client.patch(path, json={"enabled": True}, headers={**hooked.headers, "If-Match": stale})
    assert conflict.status_code == 412
    enabled = await hooked.client.patch(path, json={"enabled": True}, headers=hooked.headers)
    assert (enabled.json()["enabled"], enabled.json()["disabled_reason"]) == (True, None)
    assert (await hooked.client.delete(path, headers=hooked.headers)).status_code == 204
    assert (await hooked.client.get(path, headers=hooked.headers)).status_code == 404
    actions = await _audit_actions(hooked)
    for action in ("webhook_endpoint.created", "webhook_endpoint.updated", "webhook_endpoint.deleted"):
        assert action in actions


async def test_unknown_event_types_and_empty_lists_are_422(hooked: Hooked) -> None:
    for types in (["customer.exploded"], [], ["ping"]):
        response = await hooked.client.post(
            BASE, json={"url": hooked.receiver.url, "event_types": types}, headers=hooked.headers
        )
        assert response.status_code == 422, types


async def test_reading_needs_webhooks_read_and_writing_webhooks_write(hooked: Hooked) -> None:
    reader, _ = await issue_token(hooked.app, hooked.tenant, ["webhooks:read"])
    nobody, _ = await issue_token(hooked.app, hooked.tenant, ["customers:read"])
    as_reader = {"Authorization": f"Bearer {reader}"}
    assert (await hooked.client.get(BASE, headers=as_reader)).status_code == 200
    denied = await hooked.client.post(BASE, json={"url": hooked.receiver.url, "event_types": ["*"]}, headers=as_reader)
    assert denied.status_code == 403
    assert denied.json()["missing_scopes"] == ["webhooks:write"]
    rotate = await hooked.client.post(f"{BASE}/{hooked.endpoint['id']}/rotate-secret", headers=as_reader)
    assert rotate.status_code == 403
    listed = await hooked.client.get(BASE, headers={"Authorization": f"Bearer {nobody}"})
    assert listed.status_code == 403


async def test_another_tenants_endpoint_and_deliveries_are_404(hooked: Hooked) -> None:
    other = await create_tenant(hooked.app, "Globex", "globex")
    path = f"{BASE}/{hooked.endpoint['id']}"
    for method, suffix in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/test"), ("GET", "/deliveries")):
        response = await hooked.client.request(
            method, path + suffix, json={} if method == "PATCH" else None, headers=other.headers
        )
        assert response.status_code == 404, (method, suffix)
    assert (await hooked.client.get(BASE, headers=other.headers)).json()["data"] == []


async def test_a_ping_goes_to_that_endpoint_only(hooked: Hooked) -> None:
    second = await hooked.client.post(
        BASE, json={"url": hooked.receiver.url + "/second", "event_types": ["*"]}, headers=hooked.headers
    )
    response = await hooked.client.post(f"{BASE}/{hooked.endpoint['id']}/test", headers=hooked.headers)
    assert response.status_code == 202
    assert response.json()["event_type"] == "ping"
    [request] = await hooked.receiver.wait_for(1)
    payload = request.verify(hooked.endpoint["secret"])
    assert payload["type"] == "ping"
    assert payload["data"] == {"endpoint_id": hooked.endpoint["id"]}
    second_deliveries = await hooked.client.get(f"{BASE}/{second.json()['id']}/deliveries", headers=hooked.headers)
    assert second_deliveries.json()["data"] == []
    assert "webhook_endpoint.tested" in await _audit_actions(hooked)


async def test_redelivery_sends_the_same_webhook_id_again_as_a_new_delivery(hooked: Hooked) -> None:
    await hooked.create_customer()
    [first] = await hooked.receiver.wait_for(1)

    async def done() -> list[dict[str, Any]]:
        return [d for d in await hooked.deliveries() if d["status"] == "succeeded"]

    [delivery] = await eventually(done)
    response = await hooked.client.post(
        f"{BASE}/{hooked.endpoint['id']}/deliveries/{delivery['id']}/redeliver", headers=hooked.headers
    )
    assert response.status_code == 202
    assert response.json()["id"] != delivery["id"]
    assert response.json()["event_id"] == delivery["event_id"]
    _, second = await hooked.receiver.wait_for(2)
    assert second.webhook_id == first.webhook_id
    assert second.verify(hooked.endpoint["secret"]) == first.verify(hooked.endpoint["secret"])
    assert "webhook_delivery.redelivered" in await _audit_actions(hooked)


async def test_redelivering_to_a_disabled_endpoint_is_409(hooked: Hooked) -> None:
    await hooked.create_customer()
    await hooked.receiver.wait_for(1)
    [delivery] = await eventually(hooked.deliveries)
    await hooked.client.patch(f"{BASE}/{hooked.endpoint['id']}", json={"enabled": False}, headers=hooked.headers)
    response = await hooked.client.post(
        f"{BASE}/{hooked.endpoint['id']}/deliveries/{delivery['id']}/redeliver", headers=hooked.headers
    )
    assert response.status_code == 409
    assert response.json()["code"] == "webhook_endpoint_disabled"


async def test_a_ping_to_a_disabled_endpoint_is_refused_and_records_nothing(hooked: Hooked) -> None:
    path = f"{BASE}/{hooked.endpoint['id']}"
    await hooked.client.patch(path, json={"enabled": False}, headers=hooked.headers)
    response = await hooked.client.post(f"{path}/test", headers=hooked.headers)
    assert response.status_code == 409
    assert response.json()["code"] == "webhook_endpoint_disabled"
    assert await hooked.deliveries() == []
    events = await hooked.client.get("/api/v1/events", headers=hooked.headers)
    assert [e for e in events.json()["data"] if e["type"] == "ping"] == []
    assert "webhook_endpoint.tested" not in await _audit_actions(hooked)


async def test_an_endpoint_receives_only_the_types_it_subscribed_to(hooked: Hooked) -> None:
    invoices_only = await hooked.client.post(
        BASE, json={"url": hooked.receiver.url + "/inv", "event_types": ["invoice.created"]}, headers=hooked.headers
    )
    customer = await hooked.create_customer()
    created = await hooked.client.post(
        f"/api/v1/customers/{customer['id']}/invoices",
        json={"currency": "EUR", "line_items": [{"description": "Work", "quantity": 2, "unit_amount": 500}]},
        headers=hooked.headers,
    )
    assert created.status_code == 201, created.text
    requests = await hooked.receiver.wait_for(3)
    to_inv = [r for r in requests if r.path == "/hooks/inv"]
    assert [r.verify(invoices_only.json()["secret"])["type"] for r in to_inv] == ["invoice.created"]
    to_all = sorted(r.verify(hooked.endpoint["secret"])["type"] for r in requests if r.path == "/hooks")
    assert to_all == ["customer.created", "invoice.created"]


async def test_changing_a_listener_endpoints_url_drops_its_loopback_grant(hooked: Hooked) -> None:
    endpoint_id = hooked.endpoint["id"]
    async with hooked.app.state.database.writer() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        endpoint.local_listener = True  # as `shipyard webhooks listen` registers it
        await session.commit()
    patched = await hooked.client.patch(
        f"{BASE}/{endpoint_id}", json={"url": hooked.receiver.url + "?moved=1"}, headers=hooked.headers
    )
    assert patched.status_code == 200, patched.text
    async with hooked.app.state.database.reader() as session:
        endpoint = await session.get(WebhookEndpoint, endpoint_id)
        assert endpoint is not None
        assert endpoint.local_listener is False
