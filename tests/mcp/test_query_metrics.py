"""`query_metrics` refuses clearly: no Prometheus, an unreachable one, other metrics, unbounded ranges.

Its answers from a real Prometheus are checked in tests/deploy/test_dashboards_live.py.
"""

from __future__ import annotations

import pytest

from shipyard.settings import Settings
from tests.fixtures.mcp import mcp_session
from tests.fixtures.servers import LOOPBACK, free_port
from tests.fixtures.tenants import Tenant

NOTHING_LISTENS = f"http://{LOOPBACK}:{free_port()}"


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The MCP test settings with SHIPYARD_PROMETHEUS_URL as the test asks (unset by default)."""
    return settings.model_copy(update={"prometheus_url": getattr(request, "param", None)})


async def _refusal(base_url: str, token: str, arguments: dict[str, object]) -> str:
    async with mcp_session(base_url, token) as session:
        result = await session.call_tool("query_metrics", arguments)
    assert result.is_error is True
    assert result.structured_content is None
    return str(result.content[0].text)  # type: ignore[union-attr]


async def test_without_a_configured_prometheus_the_tool_says_so(base_url: str, operator: Tenant) -> None:
    text = await _refusal(base_url, operator.token, {"query": "shipyard_build_info"})
    assert "SHIPYARD_PROMETHEUS_URL is not set" in text


@pytest.mark.parametrize("settings", [NOTHING_LISTENS], indirect=True)
async def test_an_unreachable_prometheus_is_a_clear_error_not_a_crash(base_url: str, operator: Tenant) -> None:
    text = await _refusal(base_url, operator.token, {"query": "shipyard_build_info"})
    assert "Prometheus did not answer" in text
    assert NOTHING_LISTENS not in text


@pytest.mark.parametrize("settings", [NOTHING_LISTENS], indirect=True)
@pytest.mark.parametrize(
    ("arguments", "refusal"),
    [
        ({"query": "up"}, "Only Shipyard's own metrics"),
        ({"query": '{job="shipyard-web"}'}, "names no metric"),
        ({"query": "shipyard_build_info", "range_minutes": 24 * 60 + 1}, "range_minutes may be at most 1440"),
        ({"query": "shipyard_build_info", "range_minutes": 10, "step_s": 5}, "step_s must be at least 15"),
        ({"query": "shipyard_build_info", "range_minutes": 1440, "step_s": 60}, "at most 500 points"),
    ],
)
async def test_other_metrics_and_unbounded_ranges_are_refused_before_prometheus_is_asked(
    base_url: str, operator: Tenant, arguments: dict[str, object], refusal: str
) -> None:
    text = await _refusal(base_url, operator.token, arguments)
    assert refusal in text
    assert "did not answer" not in text


@pytest.mark.parametrize("settings", [NOTHING_LISTENS], indirect=True)
async def test_an_ordinary_organisation_cannot_read_deployment_wide_metrics(base_url: str, tenant: Tenant) -> None:
    text = await _refusal(base_url, tenant.token, {"query": "sum(rate(shipyard_sign_ins_total[5m]))"})
    assert "only a token of the operator organisation" in text
