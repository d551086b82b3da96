"""Tenant isolation: with org A's token, every org B object answers 404, exactly like one that never existed.

The table of every `/api/v1` route with a path parameter is collected from the domains' tests: each
`tests/<domain>/tenant_routes.py` lists its routes and builds its objects in a tenant's world
(`tests/fixtures/tenant_isolation.py`). A route that no such module lists fails
`test_every_api_route_with_a_path_parameter_is_in_the_table`.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts

from shipyard.app import create_app
from shipyard.settings import Settings
from tests.fixtures.tenant_isolation import Route, TenantRoutes, World
from tests.fixtures.tenants import Tenant

TESTS = Path(__file__).resolve().parent


def _contributions() -> dict[str, TenantRoutes]:
    """Every domain's `TENANT_ROUTES`, by module, in path order (a part may use the parts built before it)."""
    found = {}
    for path in sorted(TESTS.rglob("tenant_routes.py")):
        module = ".".join(path.relative_to(TESTS.parent).with_suffix("").parts)
        found[module] = importlib.import_module(module).TENANT_ROUTES
    return found


CONTRIBUTIONS = _contributions()
ROUTES = [route for contribution in CONTRIBUTIONS.values() for route in contribution.routes]
# IDs of the right shape that no tenant has.
MISSING = {name: value for contribution in CONTRIBUTIONS.values() for name, value in contribution.missing.items()}
# (parent, child) path parameters: a route naming both must check that the child belongs to the parent.
NESTED = tuple(pair for contribution in CONTRIBUTIONS.values() for pair in contribution.nested)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The settings every domain's objects need (webhook endpoints on loopback, for one)."""
    overrides = {
        name: value for contribution in CONTRIBUTIONS.values() for name, value in contribution.settings.items()
    }
    return settings.model_copy(update=overrides)


async def _world(app: Any, client: httpx.AsyncClient, tenant: Tenant) -> World:
    world = World(app, tenant, frozenset(MISSING))
    for contribution in CONTRIBUTIONS.values():
        if contribution.build is not None:
            world.add(await contribution.build(app, client, tenant, dict(world.values)))
    return world


async def _snapshot(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    """Everything the owner can see of its world, every domain's views together."""
    views: dict[str, Any] = {}
    for contribution in CONTRIBUTIONS.values():
        if contribution.snapshot is not None:
            views |= await contribution.snapshot(client, world)
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


def _filled(value: object, world: World) -> object:
    """A list query's value, its `{name}`s replaced by the world's values."""
    return value.format(**world.values) if isinstance(value, str) else value


async def test_lists_never_include_another_tenants_rows(client: httpx.AsyncClient, worlds: tuple[World, World]) -> None:
    mine, theirs = worlds
    their_ids = theirs.listed
    queries = [
        (
            path,
            {name: value.format(**theirs.values) if isinstance(value, str) else value for name, value in query.items()},
        )
        for contribution in CONTRIBUTIONS.values()
        for path, query in contribution.lists
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
    for own in (own for contribution in CONTRIBUTIONS.values() for own in contribution.own_lists):
        listed = {row["id"] for row in (await client.get(own.path, headers=mine.tenant.headers)).json()["data"]}
        expected = {mine.values[key] for key in own.keys}
        assert (listed == expected) if own.exactly else (expected <= listed), (own.path, listed)


def _api_routes_with_parameters(app: FastAPI) -> set[tuple[str, str]]:
    """(method, template) of every /api/v1 route with a path parameter, from the router and the OpenAPI."""
    found: set[tuple[str, str]] = set()
    # FastAPI >= 0.16x nests included routers; `iter_route_contexts` flattens them, hidden routes included.
    for route in iter_route_contexts(app.routes):
        # A typed parameter (`{invitation_id:invitation_id}`) is the same template as the OpenAPI path.
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path or "")
        methods = set(route.methods or {"ANY"})
        if "GET" in methods:
            methods.discard("HEAD")  # Starlette adds HEAD to GET routes; it answers like GET
        found |= {(method, path) for method in methods}
    for path, operations in app.openapi()["paths"].items():
        found |= {(method.upper(), path) for method in operations if method != "parameters"}
    return {(method, path) for method, path in found if path.startswith("/api/v1/") and "{" in path}


def _unlisted(app: FastAPI) -> list[tuple[str, str]]:
    return sorted(_api_routes_with_parameters(app) - {(route.method, route.template) for route in ROUTES})


def test_every_api_route_with_a_path_parameter_is_in_the_table(app: FastAPI) -> None:
    routes = _api_routes_with_parameters(app)
    table = {(route.method, route.template) for route in ROUTES}
    assert routes, "no /api/v1 routes found: the guard would pass vacuously"
    missing = _unlisted(app)
    assert missing == [], f"list these routes in their domain's tests/<domain>/tenant_routes.py: {missing}"
    stale = sorted(table - routes)
    assert stale == [], f"ROUTES lists routes the app no longer has: {stale}"


def test_the_table_is_collected_from_each_domains_tests() -> None:
    listing = {module for module, contribution in CONTRIBUTIONS.items() if contribution.routes}
    # Found beside each domain's tests (the reference domain among them), not in one central list.
    assert "tests.customers.tenant_routes" in listing
    assert len(listing) > 1
    assert all(module.startswith("tests.") and module.endswith(".tenant_routes") for module in listing)
    # Every path parameter of every listed route has an ID of the right shape that nobody has.
    assert set(MISSING) == {parameter for route in ROUTES for parameter in re.findall(r"\{(\w+)\}", route.template)}


def test_a_route_that_no_domain_lists_is_reported(settings: Settings) -> None:
    app = create_app(settings)
    # A route of a domain whose tests list nothing (a path no domain of today's tree has).
    unlisted = APIRouter(prefix="/api/v1/_unlisted-things")

    @unlisted.get("/{thing_id}")
    async def read_thing(thing_id: str) -> str:
        return thing_id

    app.include_router(unlisted)
    assert _unlisted(app) == [("GET", "/api/v1/_unlisted-things/{thing_id}")]
