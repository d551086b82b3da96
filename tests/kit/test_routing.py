"""HEAD wherever GET works, OPTIONS with Allow, and a relative trailing-slash redirect (RFC 9110)."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from tests.fixtures.problems import assert_problem
from tests.fixtures.tenants import Tenant

CUSTOMERS = "/api/v1/customers"


def _concrete(path: str) -> str:
    # Any ID will do: an unknown one answers 404 to GET and HEAD alike.
    return re.sub(r"\{[^}]+\}", "cus_01M81G71PZHW1C7WZ9W7YCQNS2", path)


def _declared(app: FastAPI) -> dict[str, set[str]]:
    """Each API route path with the methods its routes declare."""
    methods: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, APIRoute):
            methods.setdefault(route.path, set()).update(route.methods)
    return methods


async def test_head_answers_like_get_on_every_get_route(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    paths = sorted(path for path, methods in _declared(app).items() if "GET" in methods)
    assert len(paths) > 10, "no GET routes found: the sweep would pass vacuously"
    for path in paths:
        url = _concrete(path)
        get = await client.get(url, headers=tenant.headers)
        head = await client.head(url, headers=tenant.headers)
        assert head.status_code == get.status_code, (path, head.status_code, get.status_code)
        assert head.headers.get("content-type") == get.headers.get("content-type"), path
        assert head.content == b"", path


async def test_head_without_a_token_is_401_like_get(client: httpx.AsyncClient) -> None:
    response = await client.head(CUSTOMERS)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_options_answers_allow_on_every_api_path(app: FastAPI, client: httpx.AsyncClient) -> None:
    # No credential needed: OPTIONS describes the resource, it does not reach it.
    for path, declared in _declared(app).items():
        response = await client.options(_concrete(path))
        assert response.status_code == 204, (path, response.text)
        expected = declared | {"OPTIONS"} | ({"HEAD"} if "GET" in declared else set())
        assert {method.strip() for method in response.headers["allow"].split(",")} == expected, path


async def test_options_on_an_unknown_path_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.options("/api/v1/nothing-here"), 404, "not_found")


async def test_405_allow_names_head_and_options(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.put(CUSTOMERS, json={}, headers=tenant.headers)
    assert_problem(response, 405, "method_not_allowed")
    assert {method.strip() for method in response.headers["allow"].split(",")} == {"GET", "HEAD", "POST", "OPTIONS"}


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_trailing_slash_redirect_is_relative_whatever_the_host(client: httpx.AsyncClient, method: str) -> None:
    response = await client.request(
        method, f"{CUSTOMERS}/?limit=2", headers={"Host": "attacker.example", "X-Forwarded-Host": "attacker.example"}
    )
    assert response.status_code == 307
    assert response.headers["location"] == f"{CUSTOMERS}?limit=2"


async def test_path_without_a_slash_twin_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/nothing-here/"), 404, "not_found")


@pytest.mark.parametrize("path", ["/docs", "/metrics", "/login", "/health", "/openapi.json"])
async def test_head_works_on_the_operational_and_page_routes(client: httpx.AsyncClient, path: str) -> None:
    # Routes of included routers and plain Starlette routes, outside the API's flat route list.
    get = await client.get(path)
    head = await client.head(path)
    assert (head.status_code, head.content) == (get.status_code, b"")
    assert get.status_code == 200
