"""Recording from the edge of the app: what is stored, once per request, and never an exception."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.routing import Route

from shipyard.app import create_app
from shipyard.error_reports import repository
from shipyard.error_reports.recorder import record_error, record_server_error
from shipyard.identity.principal import Principal
from shipyard.kit.context import RequestContext
from shipyard.kit.db import create_database
from shipyard.models import Role
from shipyard.models.error_report import ErrorReport
from shipyard.settings import Settings
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.sqlite_lock import IMPATIENT_BUSY_TIMEOUT_MS, database_locked
from tests.fixtures.tenants import Tenant, create_tenant


def failing_request_scope(tenant: Tenant | None) -> dict[str, Any]:
    state: dict[str, Any] = {"request_context": RequestContext(request_id="req-edge-1", ip="203.0.113.9")}
    if tenant is not None:
        state["principal"] = Principal(tenant.organization_id, tenant.user_id, Role.OWNER, frozenset())
    return {
        "type": "http",
        "method": "PATCH",
        "path": "/api/v1/customers/cus_123",
        "route": Route("/api/v1/customers/{customer_id}", endpoint=lambda _request: None),
        "state": state,
    }


async def stored(app: FastAPI) -> list[ErrorReport]:
    async with app.state.database.reader() as session:
        return list(await session.scalars(select(ErrorReport).order_by(ErrorReport.id)))


async def test_an_unhandled_exception_is_stored_with_route_template_request_id_and_org(
    mcp_app: FastAPI, tenant: Tenant
) -> None:
    exc = ValueError(f"bad input from {tenant.token} for bob@example.com")
    await record_server_error(mcp_app.state, failing_request_scope(tenant), 500, exc)
    [report] = await stored(mcp_app)
    assert report.route == "/api/v1/customers/{customer_id}"  # the template: a raw path would carry IDs
    assert (report.method, report.status, report.request_id) == ("PATCH", 500, "req-edge-1")
    assert report.exception_type == "ValueError"
    assert report.organization_id == tenant.organization_id
    assert tenant.token not in report.message
    assert "bob@example.com" not in report.message


async def test_a_request_is_recorded_once_however_often_it_is_reported(mcp_app: FastAPI) -> None:
    scope = failing_request_scope(None)
    await record_server_error(mcp_app.state, scope, 500, RuntimeError("first"))
    await record_server_error(mcp_app.state, scope, 500, None)
    reports = await stored(mcp_app)
    assert [(r.message, r.organization_id) for r in reports] == [("first", None)]


async def test_an_error_before_routing_is_recorded_with_the_route_that_would_match_and_the_org(
    mcp_app: FastAPI, tenant: Tenant
) -> None:
    # Raised by a middleware (the idempotency claim, say): the router never ran, the principal is known.
    scope = {**failing_request_scope(tenant), "route": None, "app": mcp_app}
    await record_server_error(mcp_app.state, scope, 500, RuntimeError("database is locked"))
    [report] = await stored(mcp_app)
    assert report.route == "/api/v1/customers/{customer_id}"
    assert report.organization_id == tenant.organization_id


async def test_an_error_on_a_path_no_route_matches_is_recorded_with_the_path_scrubbed(
    mcp_app: FastAPI, tenant: Tenant
) -> None:
    path = f"/no/such/route/{tenant.token}"
    await record_server_error(mcp_app.state, {**failing_request_scope(None), "route": None, "path": path}, 502, None)
    [report] = await stored(mcp_app)
    assert report.route == "/no/such/route/shp_[REDACTED]"


async def test_the_principal_verified_by_the_mcp_sdk_gives_the_org(mcp_app: FastAPI, tenant: Tenant) -> None:
    principal = Principal(tenant.organization_id, tenant.user_id, Role.OWNER, frozenset())
    user = SimpleNamespace(access_token=SimpleNamespace(principal=principal))
    await record_server_error(mcp_app.state, {**failing_request_scope(None), "user": user}, 500, RuntimeError())
    [report] = await stored(mcp_app)
    assert report.organization_id == tenant.organization_id


async def test_recording_never_raises_when_the_database_is_unusable(settings: Settings) -> None:
    # Nothing listens on port 1: every connection is refused at once.
    broken = create_database(settings, url="postgresql+asyncpg://shipyard@127.0.0.1:1/shipyard")
    try:
        await record_server_error(SimpleNamespace(database=broken), failing_request_scope(None), 500, RuntimeError())
        await record_server_error(SimpleNamespace(), failing_request_scope(None), 500, RuntimeError())
    finally:
        await broken.dispose()


async def test_recording_prunes_the_table_to_the_newest_1000(mcp_app: FastAPI) -> None:
    async with mcp_app.state.database.writer() as session:
        session.add_all([ErrorReport(id=f"err_0{n:025d}", route="/x", status=500, message="old") for n in range(1000)])
        await session.commit()
    await record_error(
        mcp_app.state.database,
        status=500,
        route="/new",
        method="GET",
        request_id="req-newest",
        exc=None,
        organization_id=None,
    )
    async with mcp_app.state.database.reader() as session:
        total = await session.scalar(select(func.count()).select_from(ErrorReport))
        newest = await session.scalar(select(ErrorReport).where(ErrorReport.request_id == "req-newest"))
        oldest = await session.get(ErrorReport, f"err_0{0:025d}")
    assert total == repository.MAX_ROWS
    assert newest is not None
    assert oldest is None


async def test_the_app_itself_records_an_unhandled_exception(app: FastAPI, client: httpx.AsyncClient) -> None:
    # The plain app, without the test stand-in that `mcp_app` installs: this is the production path.
    async def explode() -> None:
        msg = "the real path"
        raise RuntimeError(msg)

    app.add_api_route("/api/v1/_edge_probe/explode", explode, methods=["GET"])
    response = await client.get("/api/v1/_edge_probe/explode", headers={"X-Request-ID": "req-real-path"})
    assert response.status_code == 500
    async with app.state.database.reader() as session:
        report = await session.scalar(select(ErrorReport).where(ErrorReport.request_id == "req-real-path"))
    assert report is not None
    assert report.route == "/api/v1/_edge_probe/explode"


async def test_the_app_records_a_failure_before_routing_with_its_route_and_org(settings: Settings) -> None:
    patient_about_use = {"sqlite_busy_timeout_ms": IMPATIENT_BUSY_TIMEOUT_MS, "token_last_used_resolution_s": 3600}
    app = create_app(settings.model_copy(update=patient_about_use))
    async with running_lifespan(app):
        tenant = await create_tenant(app, "Acme", "acme")
        transport = httpx.ASGITransport(app=app)
        headers = {**tenant.headers, "Idempotency-Key": "key-locked-1", "X-Request-ID": "req-before-routing"}
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            # The token's use is recorded now, so that the claim below is the request's first write.
            assert (await client.get("/api/v1/customers", headers=tenant.headers)).status_code == 200
            # The unit of work claims the key before routing; the database is locked, the claim fails.
            with database_locked(app, until_a_write_fails=True):
                body = {"name": "Ada", "email": "ada@example.com"}
                response = await client.post("/api/v1/customers", json=body, headers=headers)
        assert response.status_code == 500, response.text
        async with app.state.database.reader() as session:
            report = await session.scalar(select(ErrorReport).where(ErrorReport.request_id == "req-before-routing"))
    assert report is not None
    assert (report.method, report.route) == ("POST", "/api/v1/customers")
    assert report.organization_id == tenant.organization_id
