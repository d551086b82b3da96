"""Access logs: one structured line per request, and never a secret in any log output."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from starlette.requests import Request

from shipyard.identity import token_format
from shipyard.kit.logging import configure_logging, get_logger
from tests.fixtures.tenants import Tenant

COOKIE_VALUE = "cookie-value-4f1c9e2b7a"
PASSWORD = "pa55word-that-must-not-leak"
SECRET_HEADER_VALUE = "x-api-key-value-77aa"


class LogCapture:
    """Everything the app logs (structlog and plain stdlib records) while the capture is on."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def access_lines(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == "request"]

    def clear(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()


@contextmanager
def capturing(*, json_lines: bool) -> Iterator[LogCapture]:
    """Route all logging, at INFO, into a buffer; restore the previous setup afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_structlog = structlog.get_config()
    capture = LogCapture()
    configure_logging(json_lines=json_lines, level="INFO", stream=capture.stream)
    # The test client's own "HTTP Request: ..." lines are not the app's.
    test_client_logger = logging.getLogger("httpx")
    saved_client_level = test_client_logger.level
    test_client_logger.setLevel(logging.WARNING)
    try:
        yield capture
    finally:
        test_client_logger.setLevel(saved_client_level)
        structlog.configure(**saved_structlog)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """JSON-lines logging into a buffer for the duration of the test."""
    with capturing(json_lines=True) as capture:
        yield capture


async def _customer(client: httpx.AsyncClient, tenant: Tenant) -> str:
    created = await client.post(
        "/api/v1/customers", json={"name": "Ada", "email": "ada@example.com"}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_each_request_logs_one_json_line_with_the_route_template(
    client: httpx.AsyncClient, tenant: Tenant, logs: LogCapture
) -> None:
    customer_id = await _customer(client, tenant)
    logs.clear()
    response = await client.get(f"/api/v1/customers/{customer_id}", headers=tenant.headers)
    assert response.status_code == 200
    lines = logs.lines()
    assert len(lines) == 1, logs.text
    line = lines[0]
    assert line["event"] == "request"
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/customers/{customer_id}"
    assert customer_id not in logs.text
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float)
    assert line["duration_ms"] >= 0
    assert line["org"] == tenant.organization_id
    assert line["user_id"] == tenant.user_id
    assert line["token_id"] == tenant.token_id
    assert line["result"] == "ok"
    assert line["level"] == "info"


async def test_client_errors_and_unmatched_paths_are_logged_once(
    client: httpx.AsyncClient, tenant: Tenant, logs: LogCapture
) -> None:
    missing = await client.get("/api/v1/customers/cus_nope", headers=tenant.headers)
    unauthenticated = await client.get("/api/v1/customers")
    unmatched = await client.get("/no/such/path/42", headers={"X-Request-ID": "trace-me-1"})
    assert (missing.status_code, unauthenticated.status_code, unmatched.status_code) == (404, 401, 404)
    access = logs.access_lines()
    assert [(line["status"], line["result"]) for line in access] == [
        (404, "client_error"),
        (401, "client_error"),
        (404, "client_error"),
    ]
    assert [line["route"] for line in access] == [
        "/api/v1/customers/{customer_id}",
        "/api/v1/customers",
        "<unmatched>",
    ]
    assert access[1]["org"] is None
    assert access[1]["token_id"] is None
    assert access[2]["request_id"] == "trace-me-1"


@pytest.fixture
def leaky_route(app: FastAPI) -> None:
    """A route that fails the way real code does: it logs what it holds, then raises with it."""

    async def leaky(request: Request) -> None:
        authorization = request.headers["authorization"]
        token = authorization.split()[-1]
        body = await request.json()
        # A third-party library logging through plain stdlib logging, with the credential in the text.
        third_party = logging.getLogger("thirdparty.client")
        third_party.warning("retrying with Authorization: %s", authorization)
        third_party.warning("sent Cookie: %s", request.headers["cookie"])
        third_party.warning("upstream said no to %s", token)
        # Our own code logging structured data that holds secrets under telling names.
        get_logger("shipyard.test").warning(
            "outbound_call",
            headers={"Authorization": authorization, "Cookie": request.headers["cookie"]},
            password=body["password"],
            api_key=SECRET_HEADER_VALUE,
        )
        msg = f"upstream rejected token {token} (dsn: host=db user=app password={body['password']})"
        raise RuntimeError(msg)

    app.add_api_route("/api/v1/_leaky", leaky, methods=["POST"])


async def test_no_secret_reaches_any_log_line(
    client: httpx.AsyncClient, tenant: Tenant, logs: LogCapture, leaky_route: None
) -> None:
    assert leaky_route is None
    unknown_token = token_format.generate()
    secret_headers = {
        "Authorization": f"Bearer {tenant.token}",
        "Cookie": f"session={COOKIE_VALUE}",
        "X-Api-Key": SECRET_HEADER_VALUE,
    }
    body = {"name": "Ada", "email": "ada@example.com", "password": PASSWORD}
    responses = [
        # A token and a cookie on a normal call, a token in the query string, a password in a body.
        await client.get(f"/api/v1/customers?token={tenant.token}&api_key={tenant.token}", headers=secret_headers),
        await client.post("/api/v1/customers", json=body, headers=secret_headers),
        # A refused token: 401, audited.
        await client.get("/api/v1/customers", headers={"Authorization": f"Bearer {unknown_token}"}),
        await client.get("/api/v1/me", headers={"Authorization": f"Basic {tenant.token}"}),
        # A crash whose exception message and log calls carry the token, the cookie and the password.
        await client.post("/api/v1/_leaky", json=body, headers=secret_headers),
    ]
    statuses = [response.status_code for response in responses]
    assert statuses[0] == 200
    assert statuses[1] in {201, 422}
    assert statuses[2:] == [401, 401, 500]
    text = logs.text
    # The capture did see the crash and the third-party lines, so their absence below means something.
    assert "unhandled_exception" in text
    assert "RuntimeError" in text
    assert "thirdparty.client" in text
    assert "outbound_call" in text
    assert len(logs.access_lines()) == len(responses)
    for secret in (tenant.token, unknown_token, COOKIE_VALUE, PASSWORD, SECRET_HEADER_VALUE):
        assert secret not in text, secret
    # Every line is still well-formed JSON after redaction.
    assert all(isinstance(line, dict) for line in logs.lines())
    for response in responses:
        for secret in (tenant.token, unknown_token, PASSWORD):
            assert secret not in response.text


async def test_console_format_is_one_readable_line_per_request(client: httpx.AsyncClient, tenant: Tenant) -> None:
    with capturing(json_lines=False) as capture:
        response = await client.get("/api/v1/customers", headers=tenant.headers)
    assert response.status_code == 200
    lines = capture.text.splitlines()
    assert len(lines) == 1, capture.text
    assert not lines[0].startswith("{")
    assert "route=/api/v1/customers" in lines[0]
    assert f"request_id={response.headers['x-request-id']}" in lines[0]
    assert tenant.token not in capture.text
