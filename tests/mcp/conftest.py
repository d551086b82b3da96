"""Fixtures for the MCP tests: the wired app on loopback, seeded organisations, an operator."""

from __future__ import annotations

import httpx
import pytest

from shipyard.settings import Settings
from tests.fixtures.mcp import base_url, mcp_app, with_operator_org
from tests.fixtures.seed import Seeded, seed_acme, seed_globex
from tests.fixtures.tenants import Tenant, create_tenant

__all__ = ["base_url", "mcp_app"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared test settings, with `ops` as the operator organisation."""
    return with_operator_org(settings)


@pytest.fixture
async def acme(client: httpx.AsyncClient, tenant: Tenant) -> Seeded:
    """Organisation A, seeded through the API."""
    return await seed_acme(client, tenant)


@pytest.fixture
async def globex(client: httpx.AsyncClient, other_tenant: Tenant) -> Seeded:
    """Organisation B, seeded through the API."""
    return await seed_globex(client, other_tenant)


@pytest.fixture
async def operator(mcp_app: object) -> Tenant:
    """The operator organisation's owner (slug `ops`)."""
    return await create_tenant(mcp_app, "Operations", "ops")
