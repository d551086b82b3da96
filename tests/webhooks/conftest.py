"""An app with jobs running on the compressed schedule, a receiver, and an endpoint pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shipyard.settings import Settings
from tests.fixtures.jobs import fast, jobs_app
from tests.fixtures.receiver import Receiver
from tests.fixtures.tenants import Tenant, create_tenant


@dataclass
class Hooked:
    """A running app, a tenant, a receiver and the tenant's endpoint for it."""

    app: FastAPI
    client: httpx.AsyncClient
    tenant: Tenant
    receiver: Receiver
    endpoint: dict[str, Any]

    @property
    def headers(self) -> dict[str, str]:
        """The tenant's auth headers."""
        return self.tenant.headers

    async def create_customer(self, name: str = "Ada", **headers: str) -> dict[str, Any]:
        """A customer created through the API (which emits `customer.created`)."""
        response = await self.client.post(
            "/api/v1/customers",
            json={"name": name, "email": f"{name.lower()}@example.com"},
            headers={**self.headers, **headers},
        )
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    async def deliveries(self, **params: str) -> list[dict[str, Any]]:
        """The endpoint's deliveries, newest first."""
        response = await self.client.get(
            f"/api/v1/webhook-endpoints/{self.endpoint['id']}/deliveries", params=params, headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]  # type: ignore[no-any-return]

    async def delivery(self, delivery_id: str) -> dict[str, Any]:
        """One delivery with its attempt log."""
        response = await self.client.get(
            f"/api/v1/webhook-endpoints/{self.endpoint['id']}/deliveries/{delivery_id}", headers=self.headers
        )
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def read_endpoint(self) -> dict[str, Any]:
        """The endpoint as the API shows it now."""
        response = await self.client.get(f"/api/v1/webhook-endpoints/{self.endpoint['id']}", headers=self.headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    """The test's database on the compressed schedule, loopback receivers allowed."""
    return fast(settings)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A receiver answering 200 unless a test changes its script."""
    async with Receiver() as running:
        yield running


@pytest.fixture
async def hooked(fast_settings: Settings, receiver: Receiver) -> AsyncIterator[Hooked]:
    """Everything running, with an endpoint for every event type."""
    async with jobs_app(fast_settings) as (app, client):
        tenant = await create_tenant(app, "Acme", "acme")
        response = await client.post(
            "/api/v1/webhook-endpoints", json={"url": receiver.url, "event_types": ["*"]}, headers=tenant.headers
        )
        assert response.status_code == 201, response.text
        yield Hooked(app, client, tenant, receiver, response.json())
