"""Every mutation, and every refused token, leaves an audit event with its full context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shipyard.identity import token_format
from shipyard.models import AuditEvent
from tests.fixtures.records import audit_events, set_token_columns
from tests.fixtures.tenants import Tenant, issue_token

CLIENT_IP = "198.51.100.9"
USER_AGENT = "audit-test/1.0"
INVOICE = {"currency": "EUR", "line_items": [{"description": "Work", "quantity": 2, "unit_amount": 1500}]}


@pytest.fixture
async def remote(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client calling from a known address with a known user agent."""
    transport = httpx.ASGITransport(app=app, client=(CLIENT_IP, 50000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"User-Agent": USER_AGENT}
    ) as http:
        yield http


class Caller:
    """Sends each request with a fresh X-Request-ID and remembers it."""

    def __init__(self, http: httpx.AsyncClient, tenant: Tenant) -> None:
        self.http = http
        self.tenant = tenant
        self.count = 0

    async def __call__(self, method: str, path: str, json: object = None) -> tuple[httpx.Response, str]:
        self.count += 1
        request_id = f"req-{self.count}.audit"
        headers = {**self.tenant.headers, "X-Request-ID": request_id}
        response = await self.http.request(method, path, json=json, headers=headers)
        assert response.headers["x-request-id"] == request_id
        return response, request_id


async def _only_event(app: Any, request_id: str) -> AuditEvent:
    events = await audit_events(app, request_id=request_id)
    assert len(events) == 1, [e.action for e in events]
    return events[0]


def _assert_context(event: AuditEvent, tenant: Tenant, action: str, target_type: str, target_id: str) -> None:
    assert (event.action, event.target_type, event.target_id) == (action, target_type, target_id)
    assert event.result == "success"
    assert event.organization_id == tenant.organization_id
    assert (event.actor_type, event.actor_id, event.token_id) == ("token", tenant.user_id, tenant.token_id)
    assert (event.ip, event.user_agent) == (CLIENT_IP, USER_AGENT)
    assert event.occurred_at > datetime.now(UTC) - timedelta(minutes=1)


async def test_customer_mutations_are_audited(remote: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    call = Caller(remote, tenant)
    created, request_id = await call("POST", "/api/v1/customers", {"name": "Ada", "email": "ada@example.com"})
    assert created.status_code == 201, created.text
    customer_id = created.json()["id"]
    _assert_context(await _only_event(app, request_id), tenant, "customer.created", "customer", customer_id)

    updated, request_id = await call("PATCH", f"/api/v1/customers/{customer_id}", {"name": "Ada L."})
    assert updated.status_code == 200, updated.text
    event = await _only_event(app, request_id)
    _assert_context(event, tenant, "customer.updated", "customer", customer_id)
    assert event.details == {"fields": ["name"]}

    archived, request_id = await call("DELETE", f"/api/v1/customers/{customer_id}")
    assert archived.status_code == 204, archived.text
    _assert_context(await _only_event(app, request_id), tenant, "customer.archived", "customer", customer_id)


async def test_invoice_lifecycle_is_audited(remote: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    call = Caller(remote, tenant)
    customer, _ = await call("POST", "/api/v1/customers", {"name": "Bob", "email": "bob@example.com"})
    base = f"/api/v1/customers/{customer.json()['id']}/invoices"
    for last_step in ("pay", "void"):
        created, request_id = await call("POST", base, INVOICE)
        assert created.status_code == 201, created.text
        invoice_id = created.json()["id"]
        _assert_context(await _only_event(app, request_id), tenant, "invoice.created", "invoice", invoice_id)
        for step, action in (("finalize", "invoice.finalized"), (last_step, f"invoice.{last_step}")):
            moved, request_id = await call("POST", f"{base}/{invoice_id}/{step}")
            assert moved.status_code == 200, moved.text
            expected = {"invoice.pay": "invoice.paid", "invoice.void": "invoice.voided"}.get(action, action)
            _assert_context(await _only_event(app, request_id), tenant, expected, "invoice", invoice_id)


async def test_token_creation_and_revocation_are_audited(remote: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    call = Caller(remote, tenant)
    created, request_id = await call("POST", "/api/v1/tokens", {"name": "bot", "scopes": ["customers:read"]})
    assert created.status_code == 201, created.text
    token_id, secret = created.json()["id"], created.json()["token"]
    event = await _only_event(app, request_id)
    _assert_context(event, tenant, "token.created", "api_token", token_id)
    assert event.details == {"name": "bot", "scopes": ["customers:read"]}
    assert secret.split("_")[1] not in str(event.details)

    revoked, request_id = await call("DELETE", f"/api/v1/tokens/{token_id}")
    assert revoked.status_code == 200, revoked.text
    _assert_context(await _only_event(app, request_id), tenant, "token.revoked", "api_token", token_id)


async def test_failed_mutation_writes_no_success_event(remote: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    call = Caller(remote, tenant)
    customer, _ = await call("POST", "/api/v1/customers", {"name": "Cy", "email": "cy@example.com"})
    base = f"/api/v1/customers/{customer.json()['id']}/invoices"
    invoice, _ = await call("POST", base, INVOICE)
    path = f"{base}/{invoice.json()['id']}/pay"

    conflict, request_id = await call("POST", path)  # a draft cannot be paid
    assert conflict.status_code == 409, conflict.text
    assert await audit_events(app, request_id=request_id) == []
    assert await audit_events(app, action="invoice.paid") == []

    invalid, request_id = await call("POST", "/api/v1/customers", {"name": "", "email": "not-an-email"})
    assert invalid.status_code == 422
    assert await audit_events(app, request_id=request_id) == []


async def _rejected(app: Any, request_id: str) -> AuditEvent:
    event = await _only_event(app, request_id)
    assert (event.action, event.result, event.actor_type) == ("auth.token_rejected", "failure", "token")
    assert (event.ip, event.user_agent) == (CLIENT_IP, USER_AGENT)
    return event


async def test_refused_tokens_are_audited_with_the_reason(remote: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    revoked_secret, revoked_id = await issue_token(app, tenant, ["customers:read"])
    await set_token_columns(app, revoked_id, revoked_at=datetime.now(UTC))
    expired_secret, expired_id = await issue_token(app, tenant, ["customers:read"])
    await set_token_columns(app, expired_id, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    cases = {
        "malformed_token": ("shp_garbage", None),
        "unknown_token": (token_format.generate(), None),
        "token_revoked": (revoked_secret, revoked_id),
        "token_expired": (expired_secret, expired_id),
    }
    for reason, (secret, token_id) in cases.items():
        request_id = f"reject-{reason}"
        response = await remote.post(
            "/api/v1/customers",
            json={"name": "X", "email": "x@example.com"},
            headers={"Authorization": f"Bearer {secret}", "X-Request-ID": request_id},
        )
        assert response.status_code == 401, (reason, response.text)
        event = await _rejected(app, request_id)
        assert event.details == {"reason": reason}
        assert event.target_id == token_id
        assert event.token_id == token_id
        assert event.organization_id == (tenant.organization_id if token_id else None)
        assert secret not in str(event.details)
    assert await audit_events(app, action="customer.created") == []


async def test_replayed_request_writes_no_second_event(remote: httpx.AsyncClient, app: Any, tenant: Tenant) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "create-ada-once"}
    body = {"name": "Ada", "email": "ada@example.com"}
    first = await remote.post("/api/v1/customers", json=body, headers=headers)
    replay = await remote.post("/api/v1/customers", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.headers.get("idempotent-replayed") == "true"
    [event] = await audit_events(app, action="customer.created")
    assert event.target_id == first.json()["id"]
