"""Fixtures for the error-report tests: the wired app and an operator organisation."""

from __future__ import annotations

import pytest

from shipyard.settings import Settings
from tests.fixtures.mcp import mcp_app, with_operator_org
from tests.fixtures.tenants import Tenant, create_tenant

__all__ = ["mcp_app"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The shared test settings, with `ops` as the operator organisation."""
    return with_operator_org(settings)


@pytest.fixture
async def operator(mcp_app: object) -> Tenant:
    """The operator organisation's owner (slug `ops`)."""
    return await create_tenant(mcp_app, "Operations", "ops")
