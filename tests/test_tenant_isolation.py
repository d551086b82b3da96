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
from sqlalchemy import func, select

from shipyard.auth.store import NewSession
from shipyard.models import EmailMessage, Role
from shipyard.settings import Settings
from tests.fixtures.billing import act, create_customer, create_invoice, invoice_body
from tests.fixtures.tenants import Tenant, add_member, issue_token

CUSTOMER = "/api/v1/customers/{customer_id}"
INVOICES = f"{CUSTOMER}/invoices"
INVOICE = f"{INVOICES}/{{invoice_id}}"
TOKEN = "/api/v1/tokens/{token_id}"
ENDPOINT = "/api/v1/webhook-endpoints/{endpoint_id}"
DELIVERIES = f"{ENDPOINT}/deliveries"
DELIVERY = f"{DELIVERIES}/{{delivery_id}}"
MEMBER = "/api/v1/members/{member_id}"
INVITATION = "/api/v1/invitations/{invitation_id}"
# IDs of the right shape that no tenant has.
MISSING = {
    "customer_id": f"cus_{'0' * 26}",
    "invoice_id": f"inv_{'0' * 26}",
    "token_id": f"tok_{'0' * 26}",
    "endpoint_id": f"we_{'0' * 26}",
    "delivery_id": f"whd_{'0' * 26}",
    "session_id": f"ses_{'0' * 26}",
    "member_id": f"mem_{'0' * 26}",
    "invitation_id": f"ivt_{'0' * 26}",
}
# (parent, child) path parameters: a route naming both must check that the child belongs to the parent.
NESTED = (("customer_id", "invoice_id"), ("endpoint_id", "delivery_id"))


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
    Route("POST", f"{INVOICE}/send", invoice_status="open", ok={202}),
    Route("GET", TOKEN),
    Route("DELETE", TOKEN),
    Route("GET", ENDPOINT),
    Route("PATCH", ENDPOINT, {"description": "Edited by a stranger"}),
    Route("DELETE", ENDPOINT, ok={204}),
    Route("POST", f"{ENDPOINT}/rotate-secret"),
    Route("POST", f"{ENDPOINT}/test", ok={202}),
    Route("GET", DELIVERIES),
    Route("GET", DELIVERY),
    Route("POST", f"{DELIVERY}/redeliver", ok={202}),
    Route("POST", f"{ENDPOINT}/redeliver", {"since": "2020-01-01T00:00:00Z"}, ok={202}),
    # Sessions belong to a person: another organisation's member is a stranger to them too.
    Route("DELETE", "/api/v1/me/sessions/{session_id}", ok={204}),
    Route("GET", MEMBER),
    Route("PATCH", MEMBER, {"role": "viewer"}),
    Route("DELETE", MEMBER, ok={204}),
    Route("DELETE", INVITATION),
    Route("POST", f"{INVITATION}/resend"),
]


@dataclass
class World:
    """One tenant's objects: a customer with a draft and an open invoice, a spare token, a webhook
    endpoint with one (pending) delivery, a second member and an open invitation."""

    app: Any
    tenant: Tenant
    customer: dict[str, Any]
    invoices: dict[str, dict[str, Any]]
    token_id: str
    endpoint: dict[str, Any]
    delivery: dict[str, Any]
    session_id: str
    member_id: str
    invitation: dict[str, Any]

    def ids(self, route: Route) -> dict[str, str]:
        return {
            "customer_id": self.customer["id"],
            "invoice_id": self.invoices[route.invoice_status]["id"],
            "token_id": self.token_id,
            "endpoint_id": self.endpoint["id"],
            "delivery_id": self.delivery["id"],
            "session_id": self.session_id,
            "member_id": self.member_id,
            "invitation_id": self.invitation["id"],
        }

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values only this tenant's owner may ever read."""
        return (
            self.customer["name"],
            self.customer["email"],
            self.invoices["draft"]["memo"],
            self.endpoint["url"],
            self.endpoint["secret"],
            self.invitation["email"],
        )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Webhook endpoints on loopback are allowed (nothing is delivered: jobs do not run in these tests)."""
    return settings.model_copy(update={"webhook_allowed_networks": ["127.0.0.0/8"]})


async def _endpoint_with_a_delivery(client: httpx.AsyncClient, tenant: Tenant) -> tuple[dict[str, Any], dict[str, Any]]:
    body = {
        "url": f"http://127.0.0.1:9/hooks/{tenant.slug}-private-path",
        "event_types": ["invoice.paid"],
        "description": f"private endpoint of {tenant.slug}",
    }
    endpoint = await client.post("/api/v1/webhook-endpoints", json=body, headers=tenant.headers)
    assert endpoint.status_code == 201, endpoint.text
    ping = await client.post(f"/api/v1/webhook-endpoints/{endpoint.json()['id']}/test", headers=tenant.headers)
    assert ping.status_code == 202, ping.text
    return endpoint.json(), ping.json()


async def _world(app: Any, client: httpx.AsyncClient, tenant: Tenant) -> World:
    customer = await create_customer(client, tenant, name=f"Secret {tenant.slug}", email=f"vip@{tenant.slug}.example")
    draft = await create_invoice(client, tenant, customer["id"], memo=f"private note of {tenant.slug}")
    opened = await create_invoice(client, tenant, customer["id"])
    opened = (await act(client, tenant, opened, "finalize")).json()
    _, token_id = await issue_token(app, tenant, ["customers:read"])
    endpoint, delivery = await _endpoint_with_a_delivery(client, tenant)
    session_id = await _browser_session(app, tenant)
    member_id, invitation = await _member_and_invitation(app, client, tenant)
    return World(
        app,
        tenant,
        customer,
        {"draft": draft, "open": opened},
        token_id,
        endpoint,
        delivery,
        session_id,
        member_id,
        invitation,
    )


async def _member_and_invitation(app: Any, client: httpx.AsyncClient, tenant: Tenant) -> tuple[str, dict[str, Any]]:
    """A second person (a member, so an owner may demote or remove them) and an open invitation."""
    user_id = await add_member(app, tenant, f"colleague@{tenant.slug}-staff.com", Role.MEMBER)
    members = (await client.get("/api/v1/members", headers=tenant.headers)).json()["data"]
    body = {"email": f"newcomer@{tenant.slug}-staff.com", "role": "viewer"}
    invitation = await client.post("/api/v1/invitations", json=body, headers=tenant.headers)
    assert invitation.status_code == 201, invitation.text
    return next(m["id"] for m in members if m["user_id"] == user_id), invitation.json()


async def _browser_session(app: Any, tenant: Tenant) -> str:
    """The owner signed in with a browser (sessions belong to a person, within their organisation)."""
    async with app.state.database.writer() as db:
        new = NewSession(
            tenant.user_id, tenant.organization_id, "google", None, None, remember=False, id_token_hint=None
        )
        issued = await app.state.session_store.create_session(db, new)
        await db.commit()
    return issued.session_id


async def _emails(world: World) -> int:
    """Emails queued for the tenant (the API lists none, but `POST .../send` queues one)."""
    async with world.app.state.database.reader() as session:
        query = select(func.count()).where(EmailMessage.organization_id == world.tenant.organization_id)
        return int(await session.scalar(query) or 0)


async def _snapshot(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    """Everything the owner can see of its world (minus token usage stamps, which their own reads move)."""
    headers = world.tenant.headers
    customer = f"/api/v1/customers/{world.customer['id']}"
    endpoint = f"/api/v1/webhook-endpoints/{world.endpoint['id']}"
    views: dict[str, Any] = {}
    for name, path in {
        "customer": customer,
        "customers": "/api/v1/customers",
        "invoices": "/api/v1/invoices",
        "customer_invoices": f"{customer}/invoices",
        **{status: f"{customer}/invoices/{inv['id']}" for status, inv in world.invoices.items()},
        "endpoint": endpoint,
        "endpoints": "/api/v1/webhook-endpoints",
        "deliveries": f"{endpoint}/deliveries",
        "delivery": f"{endpoint}/deliveries/{world.delivery['id']}",
        "events": "/api/v1/events",
        "audit_events": "/api/v1/audit-events?limit=100",
        "sessions": "/api/v1/me/sessions",
        "members": "/api/v1/members",
        "invitations": "/api/v1/invitations",
    }.items():
        response = await client.get(path, headers=headers)
        views[name] = (response.status_code, response.json())
    token = (await client.get(f"/api/v1/tokens/{world.token_id}", headers=headers)).json()
    views["token"] = {k: v for k, v in token.items() if not k.startswith("last_used")}
    views["emails"] = await _emails(world)
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
    for secret in theirs.secrets:
        assert secret not in response.text
    assert (await _snapshot(client, theirs), await _snapshot(client, mine)) == before

    # The same call on the caller's own object succeeds, so the 404 above is the tenancy check at work.
    own = await _call(client, mine.tenant, route, mine.ids(route))
    assert own.status_code in route.ok, own.text


NESTED_ROUTES = [
    (route, parent, child) for route in ROUTES for parent, child in NESTED if f"{{{child}}}" in route.template
]


@pytest.mark.parametrize(("route", "parent", "child"), NESTED_ROUTES, ids=[route.id for route, _, _ in NESTED_ROUTES])
@pytest.mark.parametrize("mix", ["my-parent-their-child", "their-parent-my-child"])
async def test_mixing_one_tenants_parent_with_anothers_child_is_404(
    client: httpx.AsyncClient, worlds: tuple[World, World], route: Route, parent: str, child: str, mix: str
) -> None:
    """A customer with another tenant's invoice, an endpoint with another tenant's delivery."""
    mine, theirs = worlds
    ids = mine.ids(route)
    swapped = child if mix == "my-parent-their-child" else parent
    ids[swapped] = theirs.ids(route)[swapped]
    before = (await _snapshot(client, theirs), await _snapshot(client, mine))

    response = await _call(client, mine.tenant, route, ids)

    assert response.status_code == 404, response.text
    assert (await _snapshot(client, theirs), await _snapshot(client, mine)) == before


async def test_lists_never_include_another_tenants_rows(client: httpx.AsyncClient, worlds: tuple[World, World]) -> None:
    mine, theirs = worlds
    their_ids = {
        theirs.customer["id"],
        theirs.token_id,
        theirs.tenant.token_id,
        theirs.endpoint["id"],
        theirs.delivery["id"],
        theirs.delivery["event_id"],
        theirs.member_id,
        theirs.invitation["id"],
    } | {invoice["id"] for invoice in theirs.invoices.values()}
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
        ("/api/v1/audit-events", {"target_id": theirs.endpoint["id"]}),
        ("/api/v1/webhook-endpoints", {}),
        ("/api/v1/events", {}),
        ("/api/v1/events", {"type": "ping"}),
        ("/api/v1/members", {}),
        ("/api/v1/invitations", {}),
    ]
    for path, params in queries:
        response = await client.get(path, params=params, headers=mine.tenant.headers)
        assert response.status_code == 200, (path, response.text)
        text = response.text
        leaked = [value for value in their_ids if value in text]
        assert leaked == [], (path, params, leaked)
        assert [secret for secret in theirs.secrets if secret in text] == []
        assert theirs.tenant.organization_id not in text
    # The control: my own lists do show my rows.
    mine_listed = (await client.get("/api/v1/invoices", headers=mine.tenant.headers)).json()["data"]
    assert {invoice["id"] for invoice in mine_listed} == {invoice["id"] for invoice in mine.invoices.values()}
    my_endpoints = (await client.get("/api/v1/webhook-endpoints", headers=mine.tenant.headers)).json()["data"]
    assert [endpoint["id"] for endpoint in my_endpoints] == [mine.endpoint["id"]]
    my_events = (await client.get("/api/v1/events", headers=mine.tenant.headers)).json()["data"]
    assert mine.delivery["event_id"] in {event["id"] for event in my_events}


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
