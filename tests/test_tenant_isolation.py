"""Tenant isolation: with org A's token, every org B object answers 404, exactly like one that never existed.

`ROUTES` is the table of every `/api/v1` route with a path parameter. Adding such a route means adding
a row here: `test_every_api_route_with_a_path_parameter_is_in_the_table` fails until you do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from tests.fixtures.billing import act, create_customer, create_invoice, invoice_body
from tests.fixtures.tenants import Tenant, issue_token

CUSTOMER = "/api/v1/customers/{customer_id}"
INVOICES = f"{CUSTOMER}/invoices"
INVOICE = f"{INVOICES}/{{invoice_id}}"
TOKEN = "/api/v1/tokens/{token_id}"
# IDs of the right shape that no tenant has.
MISSING = {"customer_id": f"cus_{'0' * 26}", "invoice_id": f"inv_{'0' * 26}", "token_id": f"tok_{'0' * 26}"}


@dataclass(frozen=True)
class Route:
    """One (method, path template) of the API, and what a legitimate call to it looks like."""

    method: str
    template: str
    body: dict[str, Any] | None = None
    # The status the invoice must be in for the call to succeed for its owner.
    invoice_status: str = "draft"
    ok: set[int] = field(default_factory=lambda: {200})

    @property
    def id(self) -> str:
        return f"{self.method} {self.template}"


ROUTES = [
    Route("GET", CUSTOMER),
    Route("PATCH", CUSTOMER, {"name": "Renamed by a stranger"}),
    Route("DELETE", CUSTOMER, ok={204}),
    Route("GET", INVOICES),
    Route("POST", INVOICES, invoice_body(), ok={201}),
    Route("GET", INVOICE),
    Route("PATCH", INVOICE, {"memo": "Edited by a stranger"}),
    Route("DELETE", INVOICE, ok={204}),
    Route("POST", f"{INVOICE}/finalize"),
    Route("POST", f"{INVOICE}/pay", invoice_status="open"),
    Route("POST", f"{INVOICE}/void", invoice_status="open"),
    Route("GET", TOKEN),
    Route("DELETE", TOKEN),
]


@dataclass
class World:
    """One tenant's objects: a customer with a draft and an open invoice, and a spare token."""

    tenant: Tenant
    customer: dict[str, Any]
    invoices: dict[str, dict[str, Any]]
    token_id: str

    def ids(self, route: Route) -> dict[str, str]:
        return {
            "customer_id": self.customer["id"],
            "invoice_id": self.invoices[route.invoice_status]["id"],
            "token_id": self.token_id,
        }


async def _world(app: Any, client: httpx.AsyncClient, tenant: Tenant) -> World:
    customer = await create_customer(client, tenant, name=f"Secret {tenant.slug}", email=f"vip@{tenant.slug}.example")
    draft = await create_invoice(client, tenant, customer["id"], memo=f"private note of {tenant.slug}")
    opened = await create_invoice(client, tenant, customer["id"])
    opened = (await act(client, tenant, opened, "finalize")).json()
    _, token_id = await issue_token(app, tenant, ["customers:read"])
    return World(tenant, customer, {"draft": draft, "open": opened}, token_id)


async def _snapshot(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    """Everything the owner can see of its world (minus token usage stamps, which their own reads move)."""
    headers = world.tenant.headers
    customer = f"/api/v1/customers/{world.customer['id']}"
    views: dict[str, Any] = {}
    for name, path in {
        "customer": customer,
        "customers": "/api/v1/customers",
        "invoices": "/api/v1/invoices",
        "customer_invoices": f"{customer}/invoices",
        **{status: f"{customer}/invoices/{inv['id']}" for status, inv in world.invoices.items()},
    }.items():
        response = await client.get(path, headers=headers)
        views[name] = (response.status_code, response.json())
    token = (await client.get(f"/api/v1/tokens/{world.token_id}", headers=headers)).json()
    views["token"] = {k: v for k, v in token.items() if not k.startswith("last_used")}
    return views


def _normalised(response: httpx.Response, ids: dict[str, str]) -> dict[str, Any]:
    text = response.text
    for value in ids.values():
        text = text.replace(value, "<id>")
    body: dict[str, Any] = json.loads(text)
    body.pop("request_id", None)
    return body


async def _call(client: httpx.AsyncClient, tenant: Tenant, route: Route, ids: dict[str, str]) -> httpx.Response:
    return await client.request(route.method, route.template.format(**ids), json=route.body, headers=tenant.headers)


@pytest.fixture
async def worlds(app: Any, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> tuple[World, World]:
    return await _world(app, client, tenant), await _world(app, client, other_tenant)


@pytest.mark.parametrize("route", ROUTES, ids=[route.id for route in ROUTES])
async def test_another_tenants_object_is_404_and_untouched(
    client: httpx.AsyncClient, worlds: tuple[World, World], route: Route
) -> None:
    mine, theirs = worlds
    before = (await _snapshot(client, theirs), await _snapshot(client, mine))

    response = await _call(client, mine.tenant, route, theirs.ids(route))
    never_existed = await _call(client, mine.tenant, route, MISSING)

    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "resource_not_found"
    # Indistinguishable from an ID nobody has: nothing about B's object leaks, not even that it exists.
    assert _normalised(response, theirs.ids(route)) == _normalised(never_existed, MISSING)
    for secret in (theirs.customer["name"], theirs.customer["email"], theirs.invoices["draft"]["memo"]):
        assert secret not in response.text
    assert (await _snapshot(client, theirs), await _snapshot(client, mine)) == before

    # The same call on the caller's own object succeeds, so the 404 above is the tenancy check at work.
    own = await _call(client, mine.tenant, route, mine.ids(route))
    assert own.status_code in route.ok, own.text


@pytest.mark.parametrize("route", [r for r in ROUTES if "{invoice_id}" in r.template], ids=lambda r: r.id)
@pytest.mark.parametrize("mix", ["my-customer-their-invoice", "their-customer-my-invoice"])
async def test_mixing_one_tenants_customer_with_anothers_invoice_is_404(
    client: httpx.AsyncClient, worlds: tuple[World, World], route: Route, mix: str
) -> None:
    mine, theirs = worlds
    ids = mine.ids(route)
    if mix == "my-customer-their-invoice":
        ids["invoice_id"] = theirs.ids(route)["invoice_id"]
    else:
        ids["customer_id"] = theirs.customer["id"]
    before = (await _snapshot(client, theirs), await _snapshot(client, mine))

    response = await _call(client, mine.tenant, route, ids)

    assert response.status_code == 404, response.text
    assert (await _snapshot(client, theirs), await _snapshot(client, mine)) == before


async def test_lists_never_include_another_tenants_rows(client: httpx.AsyncClient, worlds: tuple[World, World]) -> None:
    mine, theirs = worlds
    their_ids = {theirs.customer["id"], theirs.token_id, theirs.tenant.token_id} | {
        invoice["id"] for invoice in theirs.invoices.values()
    }
    queries = [
        ("/api/v1/customers", {}),
        ("/api/v1/customers", {"email": theirs.customer["email"]}),
        ("/api/v1/invoices", {}),
        ("/api/v1/invoices", {"customer_email": theirs.customer["email"]}),
        ("/api/v1/invoices", {"status": "open"}),
        ("/api/v1/invoices", {"status": "draft"}),
        ("/api/v1/tokens", {}),
        ("/api/v1/audit-events", {"limit": 100}),
        ("/api/v1/audit-events", {"target_id": theirs.customer["id"]}),
    ]
    for path, params in queries:
        response = await client.get(path, params=params, headers=mine.tenant.headers)
        assert response.status_code == 200, (path, response.text)
        text = response.text
        leaked = [value for value in their_ids if value in text]
        assert leaked == [], (path, params, leaked)
        assert theirs.customer["email"] not in text
        assert theirs.tenant.organization_id not in text
    # The control: my own lists do show my rows.
    mine_listed = (await client.get("/api/v1/invoices", headers=mine.tenant.headers)).json()["data"]
    assert {invoice["id"] for invoice in mine_listed} == {invoice["id"] for invoice in mine.invoices.values()}


def _api_routes_with_parameters(app: FastAPI) -> set[tuple[str, str]]:
    """(method, template) of every /api/v1 route with a path parameter, from the router and the OpenAPI."""
    found: set[tuple[str, str]] = set()
    # FastAPI >= 0.16x nests included routers; `iter_route_contexts` flattens them, hidden routes included.
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        methods = set(route.methods or {"ANY"})
        if "GET" in methods:
            methods.discard("HEAD")  # Starlette adds HEAD to GET routes; it answers like GET
        found |= {(method, path) for method in methods}
    for path, operations in app.openapi()["paths"].items():
        found |= {(method.upper(), path) for method in operations if method != "parameters"}
    return {(method, path) for method, path in found if path.startswith("/api/v1/") and "{" in path}


def test_every_api_route_with_a_path_parameter_is_in_the_table(app: FastAPI) -> None:
    routes = _api_routes_with_parameters(app)
    table = {(route.method, route.template) for route in ROUTES}
    assert routes, "no /api/v1 routes found: the guard would pass vacuously"
    missing = sorted(routes - table)
    assert missing == [], f"add these routes to ROUTES in {__name__}: {missing}"
    stale = sorted(table - routes)
    assert stale == [], f"ROUTES lists routes the app no longer has: {stale}"
