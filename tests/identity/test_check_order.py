"""Authenticate, then authorise, then validate: on every mutating route of the OpenAPI document.

A caller without a credential gets 401, and a token without the route's scope gets 403, whatever is
wrong with the rest of the request: a malformed Idempotency-Key, an oversized or non-JSON body, a
body that is not JSON at all.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from shipyard.app import create_app
from shipyard.models import AuditEvent
from shipyard.settings import Settings
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.problems import assert_problem
from tests.fixtures.tenants import Tenant, issue_token
from tests.kit.conftest import count_rows

SMALL_LIMIT = 256
MUTATING = frozenset({"post", "put", "patch", "delete"})
# Routes that need a caller but no scope: a token without write scopes may use them.
NO_SCOPE_NEEDED = frozenset(
    {
        ("DELETE", "/api/v1/me/sessions/{session_id}"),
        # Leaving needs no scope from a browser; another member's removal checks members:write in the route.
        ("DELETE", "/api/v1/members/{member_id}"),
        # A person's own acts, refused to every token with 403 browser_session_required in the route.
        ("POST", "/api/v1/invitations/accept"),
        ("POST", "/api/v1/me/active-organization"),
    }
)
# Each bad input: (name, extra headers, body). Every one is refused when the caller may go on.
BAD_INPUTS = {
    "malformed_idempotency_key": ({"Content-Type": "application/json", "Idempotency-Key": ""}, b"{}"),
    "oversized_body": ({"Content-Type": "application/json"}, b"{}" + b" " * SMALL_LIMIT),
    "non_json_body": ({"Content-Type": "text/plain"}, b"{}"),
    "invalid_json": ({"Content-Type": "application/json"}, b'{"name": '),
}
# What an authorised caller gets for each bad input on a route that takes a JSON body.
INPUT_REFUSALS = {
    "malformed_idempotency_key": (400, "idempotency_key_invalid"),
    "oversized_body": (413, "request_too_large"),
    "non_json_body": (415, "unsupported_media_type"),
    "invalid_json": (422, "validation_failed"),
}


Small = tuple[FastAPI, httpx.AsyncClient]


@pytest.fixture
async def small(settings: Settings) -> AsyncIterator[Small]:
    """The app on this test's database with a small body limit, and a client."""
    application = create_app(settings.model_copy(update={"max_body_bytes": SMALL_LIMIT}))
    async with running_lifespan(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield application, client


def _mutating_operations(app: FastAPI) -> list[tuple[str, str]]:
    operations = [
        (method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item if method in MUTATING
    ]
    assert len(operations) > 15, "too few mutating operations: the sweep would prove little"
    return operations


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x_01M81G71PZHW1C7WZ9W7YCQNS2", path)


@pytest.mark.parametrize("bad_input", sorted(BAD_INPUTS))
async def test_no_credential_is_401_before_any_input_check(small: Small, bad_input: str) -> None:
    app, client = small
    headers, body = BAD_INPUTS[bad_input]
    for method, path in _mutating_operations(app):
        response = await client.request(method, _concrete(path), content=body, headers=headers)
        assert response.status_code == 401, (method, path, response.text)
        assert_problem(response, 401, "unauthenticated")


@pytest.mark.parametrize("bad_input", sorted(BAD_INPUTS))
async def test_token_without_the_scope_is_403_before_any_input_check(
    small: Small, tenant: Tenant, bad_input: str
) -> None:
    app, client = small
    read_only, _ = await issue_token(app, tenant, ["customers:read", "invoices:read", "audit:read"])
    headers, body = BAD_INPUTS[bad_input]
    for method, path in _mutating_operations(app):
        if (method, path) in NO_SCOPE_NEEDED:
            continue
        response = await client.request(
            method, _concrete(path), content=body, headers={**headers, "Authorization": f"Bearer {read_only}"}
        )
        assert response.status_code == 403, (method, path, response.text)
        assert_problem(response, 403, "insufficient_scope")


@pytest.mark.parametrize("bad_input", sorted(BAD_INPUTS))
async def test_authorised_caller_gets_the_input_refusal(small: Small, tenant: Tenant, bad_input: str) -> None:
    # The control: the same inputs are refused once the caller may go on, so the sweeps above test order.
    _, client = small
    headers, body = BAD_INPUTS[bad_input]
    response = await client.post("/api/v1/customers", content=body, headers={**headers, **tenant.headers})
    assert_problem(response, *INPUT_REFUSALS[bad_input])


async def test_refused_token_is_401_invalid_token_before_the_body_check(small: Small) -> None:
    app, client = small
    headers, body = BAD_INPUTS["oversized_body"]
    response = await client.post(
        "/api/v1/customers",
        content=body,
        headers={**headers, "Authorization": "Bearer shp_00000000000000000000000000000000_000000"},
    )
    assert_problem(response, 401, "invalid_token")
    # Recorded once, although the token was checked outside the route's dependencies.
    assert await count_rows(app, AuditEvent) == 1


async def test_reused_idempotency_key_is_403_for_a_token_without_the_scope(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    read_only, _ = await issue_token(app, tenant, ["customers:read"])
    headers = {"Authorization": f"Bearer {read_only}", "Idempotency-Key": "order-1"}
    for name in ("Ada", "Grace"):  # the second body differs: without the 403 first, it would be a 422
        response = await client.post(
            "/api/v1/customers", json={"name": name, "email": "ada@example.com"}, headers=headers
        )
        assert_problem(response, 403, "insufficient_scope")
