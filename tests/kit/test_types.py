"""The shared request field types: timestamps at the edges of the calendar."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from shipyard.models import ErrorReport
from tests.fixtures.problems import assert_problem
from tests.fixtures.tenants import Tenant
from tests.kit.conftest import count_rows

# Every list that filters on a timestamp, with the parameter it filters on.
TIMESTAMP_FILTERS = [
    ("/api/v1/customers", "created_after"),
    ("/api/v1/customers", "created_before"),
    ("/api/v1/invoices", "created_after"),
    ("/api/v1/customers/cus_01M81G71PZHW1C7WZ9W7YCQNS2/invoices", "created_before"),
    ("/api/v1/audit-events", "occurred_after"),
]
# Valid RFC 3339 instants whose UTC form falls before year 1 or after year 9999.
BEYOND_THE_CALENDAR = ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"]


@pytest.mark.parametrize(("path", "parameter"), TIMESTAMP_FILTERS)
@pytest.mark.parametrize("value", BEYOND_THE_CALENDAR)
async def test_timestamp_without_a_utc_form_is_422_and_reports_no_error(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, path: str, parameter: str, value: str
) -> None:
    response = await client.get(path, params={parameter: value}, headers=tenant.headers)
    body = assert_problem(response, 422, "validation_failed")
    assert [issue["parameter"] for issue in body["errors"]] == [parameter]
    assert await count_rows(app, ErrorReport) == 0


async def test_timestamp_at_the_last_utc_instant_is_accepted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    # The edge itself is a valid filter: an offset that stays inside the calendar is converted, not refused.
    response = await client.get(
        "/api/v1/customers", params={"created_before": "9999-12-31T23:59:59+01:00"}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
