"""Standard Webhooks signatures, verified by the official library, before, during and after a rotation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from shipyard.settings import Settings
from shipyard.webhooks import signing
from tests.fixtures.jobs import fast, jobs_app
from tests.fixtures.receiver import Receiver
from tests.fixtures.tenants import create_tenant
from tests.webhooks.conftest import Hooked


def test_a_new_secret_is_whsec_and_base64_of_32_bytes() -> None:
    import base64

    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert signing.new_secret() != secret


def test_headers_verify_with_the_official_library_over_the_exact_body() -> None:
    secret = signing.new_secret()
    body = '{"type":"ping","data":{"x":"é"}}'
    headers = signing.headers([secret], "evt_1", datetime.now(UTC), body)
    assert Webhook(secret).verify(body.encode(), headers) == {"type": "ping", "data": {"x": "é"}}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("é", "e").encode(), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body.encode(), headers)


async def test_during_a_rotation_both_secrets_sign_and_both_verify(hooked: Hooked) -> None:
    old = hooked.endpoint["secret"]
    response = await hooked.client.post(
        f"/api/v1/webhook-endpoints/{hooked.endpoint['id']}/rotate-secret", headers=hooked.headers
    )
    assert response.status_code == 200
    new = response.json()["secret"]
    assert new != old
    await hooked.create_customer()
    [request] = await hooked.receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    # A receiver that has not switched yet, and one that has, both accept it.
    assert request.verify(old)["type"] == "customer.created"
    assert request.verify(new)["type"] == "customer.created"
    endpoint = await hooked.read_endpoint()
    assert endpoint["previous_secret_expires_at"] is not None
    assert "secret" not in endpoint


async def test_after_the_rotation_window_only_the_new_secret_signs(settings: Settings) -> None:
    async with Receiver() as receiver, jobs_app(fast(settings, webhook_secret_rotation_grace_s=0.0)) as (app, client):
        tenant = await create_tenant(app, "Acme", "acme")
        created = await client.post(
            "/api/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["*"]}, headers=tenant.headers
        )
        old = created.json()["secret"]
        rotated = await client.post(
            f"/api/v1/webhook-endpoints/{created.json()['id']}/rotate-secret", headers=tenant.headers
        )
        new = rotated.json()["secret"]
        await client.post("/api/v1/customers", json={"name": "A", "email": "a@example.com"}, headers=tenant.headers)
        [request] = await receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    assert request.verify(new)["type"] == "customer.created"
    with pytest.raises(WebhookVerificationError):
        request.verify(old)


async def test_a_second_rotation_within_the_window_keeps_only_the_two_newest_secrets(hooked: Hooked) -> None:
    """The documented rule (docs/webhooks.md): rotating again ends the first rotation's window at once."""
    rotate = f"/api/v1/webhook-endpoints/{hooked.endpoint['id']}/rotate-secret"
    original = hooked.endpoint["secret"]
    middle = (await hooked.client.post(rotate, headers=hooked.headers)).json()["secret"]
    newest = (await hooked.client.post(rotate, headers=hooked.headers)).json()["secret"]
    await hooked.create_customer()
    [request] = await hooked.receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert request.verify(newest)["type"] == "customer.created"
    assert request.verify(middle)["type"] == "customer.created"
    with pytest.raises(WebhookVerificationError):
        request.verify(original)


async def test_secrets_are_stored_encrypted(hooked: Hooked) -> None:
    from shipyard.models import WebhookEndpoint

    async with hooked.app.state.database.reader() as session:
        endpoint = await session.get(WebhookEndpoint, hooked.endpoint["id"])
    assert endpoint is not None
    secret = hooked.endpoint["secret"]
    assert secret not in endpoint.secret_ciphertext
    assert secret.removeprefix("whsec_") not in endpoint.secret_ciphertext
