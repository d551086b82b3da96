"""The SSRF guard: private, loopback, metadata and redirect targets are refused with the allow-list off."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import httpx
import pytest

from shipyard.models import WebhookEndpoint
from shipyard.settings import Settings
from shipyard.webhooks import delivery as http_delivery
from shipyard.webhooks.service import may_reach_loopback
from shipyard.webhooks.ssrf import Guard, UnsafeURLError
from tests.fixtures.jobs import eventually, fast, jobs_app
from tests.fixtures.receiver import Receiver, Reply
from tests.fixtures.tenants import create_tenant

STRICT = Guard(require_https=False, allowed_networks=[])

REFUSED = [
    "http://127.0.0.1/hook",
    "http://localhost:8080/hook",
    "http://[::1]/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.9/hook",
    "http://192.168.1.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/hook",
    "http://0.0.0.0/hook",
    "http://[fe80::1]/hook",
    "http://[fd00:ec2::254]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://224.0.0.1/hook",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_non_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError, match="non-public"):
        await STRICT.resolve(url)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/x", "http://user:pw@93.184.215.14/", "http:///nohost", "http://93.184.215.14:0/"]
)
async def test_malformed_or_credentialed_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeURLError):
        await STRICT.resolve(url)


async def test_https_is_required_when_configured_and_a_public_address_passes() -> None:
    guard = Guard(require_https=True, allowed_networks=[])
    with pytest.raises(UnsafeURLError, match="https"):
        await guard.resolve("http://93.184.215.14/hook")
    target = await guard.resolve("https://93.184.215.14:8443/hook?x=1")
    assert (target.url, target.host, target.port) == ("https://93.184.215.14:8443/hook?x=1", "93.184.215.14", 8443)
    assert str(target.address) == "93.184.215.14"


def test_the_allow_list_admits_only_its_networks() -> None:
    guard = Guard(require_https=False, allowed_networks=["127.0.0.0/8"])
    assert guard.address_allowed(ipaddress.ip_address("127.0.0.1"))
    assert not guard.address_allowed(ipaddress.ip_address("10.0.0.1"))


async def test_a_development_listener_may_reach_loopback_and_nothing_else_private() -> None:
    for url in ("http://127.0.0.1:9/hook", "http://[::1]:9/hook", "http://localhost:9/hook"):
        with pytest.raises(UnsafeURLError, match="non-public"):
            await STRICT.resolve(url)
        assert (await STRICT.resolve(url, loopback=True)).address.is_loopback
    for url in ("http://10.1.2.3/hook", "http://169.254.169.254/latest/meta-data/", "http://192.168.1.1/hook"):
        with pytest.raises(UnsafeURLError, match="non-public"):
            await STRICT.resolve(url, loopback=True)


def test_only_a_listener_endpoint_outside_production_may_reach_loopback() -> None:
    development = Settings.model_validate({"env": "development"})
    production = Settings.model_validate(
        {"env": "production", "secret_key": "x" * 40, "database_url": "postgresql+asyncpg://a@b/c"}
    )
    listener = WebhookEndpoint(local_listener=True)
    ordinary = WebhookEndpoint(local_listener=False)
    assert may_reach_loopback(listener, development)
    assert not may_reach_loopback(listener, production)
    assert not may_reach_loopback(ordinary, development)


def test_production_refuses_to_start_with_an_allow_list() -> None:
    from shipyard.settings import MissingSettingsError

    with pytest.raises(MissingSettingsError, match="WEBHOOK_ALLOWED_NETWORKS"):
        Settings.model_validate(
            {
                "env": "production",
                "secret_key": "x" * 40,
                "database_url": "postgresql+asyncpg://a@b/c",
                "webhook_allowed_networks": ["127.0.0.0/8"],
            }
        )
    production = Settings.model_validate(
        {"env": "production", "secret_key": "x" * 40, "database_url": "postgresql+asyncpg://a@b/c"}
    )
    assert production.webhooks_require_https


async def test_the_api_refuses_a_loopback_or_metadata_url(settings: Settings) -> None:
    async with jobs_app(fast(settings, webhook_allowed_networks=[])) as (app, client):
        tenant = await create_tenant(app, "Acme", "acme")
        for url in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest", "http://10.0.0.7/"):
            response = await client.post(
                "/api/v1/webhook-endpoints", json={"url": url, "event_types": ["*"]}, headers=tenant.headers
            )
            assert response.status_code == 422, url
            assert response.json()["code"] == "webhook_url_refused"
            assert response.json()["errors"][0]["pointer"] == "#/url"


async def test_the_address_is_checked_again_at_delivery_time(settings: Settings) -> None:
    """An endpoint accepted earlier (as if DNS changed since) is not called once its address is refused."""
    async with Receiver() as receiver:
        async with jobs_app(fast(settings)) as (app, client):
            tenant = await create_tenant(app, "Acme", "acme")
            url = receiver.url.replace("127.0.0.1", "localhost")
            created = await client.post(
                "/api/v1/webhook-endpoints", json={"url": url, "event_types": ["*"]}, headers=tenant.headers
            )
            assert created.status_code == 201
        async with jobs_app(fast(settings, webhook_allowed_networks=[])) as (app, client):
            await client.post("/api/v1/customers", json={"name": "A", "email": "a@example.com"}, headers=tenant.headers)
            path = f"/api/v1/webhook-endpoints/{created.json()['id']}/deliveries"

            async def attempted() -> list[dict[str, object]]:
                data = (await client.get(path, headers=tenant.headers)).json()["data"]
                return [d for d in data if d["attempts"] >= 1 and d["last_error"]]

            [delivery] = await eventually(attempted)
    assert str(delivery["last_error"]).startswith("blocked")
    assert receiver.requests == []


async def test_a_redirect_to_a_private_address_is_not_followed(settings: Settings) -> None:
    redirect = Receiver(lambda _r: Reply(307, b"", {"Location": "http://169.254.169.254/latest"}))
    async with redirect as receiver, jobs_app(fast(settings)) as (app, client):
        tenant = await create_tenant(app, "Acme", "acme")
        created = await client.post(
            "/api/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["*"]}, headers=tenant.headers
        )
        await client.post("/api/v1/customers", json={"name": "A", "email": "a@example.com"}, headers=tenant.headers)
        await receiver.wait_for(1)
        path = f"/api/v1/webhook-endpoints/{created.json()['id']}/deliveries"

        async def failed_once() -> list[dict[str, object]]:
            data = (await client.get(path, headers=tenant.headers)).json()["data"]
            return [d for d in data if d["last_status_code"] == 307]

        [delivery] = await eventually(failed_once)
    assert delivery["status"] == "pending"  # a failure, to be retried; never a success
    assert "not followed" in str(delivery["last_error"])


async def test_a_refused_address_fails_the_delivery_once_and_disables_the_endpoint_as_blocked(
    settings: Settings,
) -> None:
    """No retries for an address the guard refuses (each would be refused), and its own reason."""
    async with Receiver() as receiver:
        async with jobs_app(fast(settings)) as (app, client):
            tenant = await create_tenant(app, "Acme", "acme")
            created = await client.post(
                "/api/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["*"]}, headers=tenant.headers
            )
            assert created.status_code == 201
        endpoint = f"/api/v1/webhook-endpoints/{created.json()['id']}"
        async with jobs_app(fast(settings, webhook_allowed_networks=[])) as (app, client):
            await client.post("/api/v1/customers", json={"name": "A", "email": "a@example.com"}, headers=tenant.headers)

            async def failed() -> list[dict[str, object]]:
                data = (await client.get(f"{endpoint}/deliveries", headers=tenant.headers)).json()["data"]
                return [d for d in data if d["status"] == "failed"]

            [delivery] = await eventually(failed)
            read = (await client.get(endpoint, headers=tenant.headers)).json()
            audit = (await client.get("/api/v1/audit-events", headers=tenant.headers)).json()["data"]
    assert delivery["attempts"] == 1
    assert str(delivery["last_error"]).startswith("blocked")
    assert (read["enabled"], read["disabled_reason"]) == (False, "blocked")
    disabled = [e for e in audit if e["action"] == "webhook_endpoint.disabled"]
    assert [e["details"]["reason"] for e in disabled] == ["blocked"]
    assert receiver.requests == []


async def test_a_host_that_does_not_resolve_is_a_retried_failure_not_a_refusal() -> None:
    message = http_delivery.Message(
        event_id="evt_1",
        event_type="customer.created",
        created_at=datetime.now(UTC),
        data={},
        url="http://shipyard-test-host.invalid/hook",
        secrets=["whsec_" + "A" * 44],
    )
    async with httpx.AsyncClient() as client:
        outcome = await http_delivery.send(client, STRICT, message, max_body=4096, timeout_s=5)
    assert not outcome.succeeded
    assert not outcome.blocked
    assert str(outcome.error).startswith("dns")
