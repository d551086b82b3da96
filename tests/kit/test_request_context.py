"""X-Request-ID: a well-formed incoming ID is kept, anything else is replaced, on every response."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.middleware import Middleware

from shipyard.kit.logging import get_logger
from shipyard.kit.proxy_headers import ProxyHeadersMiddleware
from shipyard.kit.request_context import RequestContextMiddleware
from tests.fixtures.log_capture import production_logs
from tests.fixtures.problems import assert_problem
from tests.fixtures.tenants import Tenant
from tests.kit.conftest import PROBE, Probes

GENERATED = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


@pytest.mark.parametrize(
    "incoming",
    ["abc", "A" * 128, "req_01.2:3-x", "0"],
    ids=["short", "max-length", "all-allowed-punctuation", "one-char"],
)
async def test_well_formed_request_id_is_echoed(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/health", headers={"X-Request-ID": incoming})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    ["A" * 129, "has space", "semi;colon", "slash/", 'quote"', "", "tab\tinside", "caf\u00e9"],
    ids=["too-long", "space", "semicolon", "slash", "quote", "empty", "tab", "non-ascii"],
)
async def test_malformed_request_id_is_replaced(client: httpx.AsyncClient, incoming: str) -> None:
    response = await client.get("/health", headers={"X-Request-ID": incoming.encode("latin-1")})
    generated = response.headers["x-request-id"]
    assert generated != incoming
    assert GENERATED.fullmatch(generated)


async def test_missing_request_id_is_generated_fresh_per_request(client: httpx.AsyncClient) -> None:
    first = await client.get("/health")
    second = await client.get("/health")
    assert GENERATED.fullmatch(first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_response_carries_exactly_one_request_id(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.get("/api/v1/customers", headers={**tenant.headers, "X-Request-ID": "only-once"})
    assert response.headers.get_list("x-request-id") == ["only-once"]


async def test_request_id_is_on_client_errors(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/customers", headers={"X-Request-ID": "err-401"})
    body = assert_problem(response, 401, "unauthenticated")
    assert body["request_id"] == "err-401"


async def test_replaced_request_id_is_the_one_in_the_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nowhere", headers={"X-Request-ID": "bad id"})
    body = assert_problem(response, 404, "not_found")
    assert body["request_id"] != "bad id"


async def test_request_id_is_on_errors_raised_outside_the_router(client: httpx.AsyncClient, tenant: Tenant) -> None:
    # The 415 comes from the body guard middleware, before FastAPI's exception handlers.
    response = await client.post(
        "/api/v1/customers",
        content=b"hello",
        headers={**tenant.headers, "Content-Type": "text/plain", "X-Request-ID": "guard-415"},
    )
    body = assert_problem(response, 415, "unsupported_media_type")
    assert body["request_id"] == "guard-415"


async def test_request_id_is_on_server_errors(client: httpx.AsyncClient, probes: Probes) -> None:
    response = await client.get(f"{PROBE}/boom", headers={"X-Request-ID": "err-500"})
    assert probes.calls["boom"] == 1
    body = assert_problem(response, 500, "internal_error")
    assert body["request_id"] == "err-500"
    assert response.headers["x-request-id"] == "err-500"


async def test_concurrent_requests_keep_their_own_ids(client: httpx.AsyncClient, tenant: Tenant) -> None:
    ids = [f"parallel-{n}" for n in range(8)]
    responses = await asyncio.gather(
        *(client.get("/api/v1/nope", headers={**tenant.headers, "X-Request-ID": rid}) for rid in ids)
    )
    assert [r.json()["request_id"] for r in responses] == ids
    assert [r.headers["x-request-id"] for r in responses] == ids


async def test_failure_after_the_response_is_recorded_with_the_status_sent(
    client: httpx.AsyncClient, tenant: Tenant, probes: Probes
) -> None:
    response = await client.post(
        f"{PROBE}/background-failure", json={"name": "Ada", "email": "ada@example.com"}, headers=tenant.headers
    )
    assert response.status_code == 201, response.text
    assert probes.calls["boom"] == 1
    metrics = (await client.get("/metrics")).text
    series = [line for line in metrics.splitlines() if "background-failure" in line and "_count" in line]
    assert series, metrics
    assert all('status="201"' in line for line in series), series


async def test_every_line_logged_while_answering_carries_the_request_id_and_later_ones_do_not() -> None:
    app = FastAPI(middleware=[Middleware(RequestContextMiddleware, metrics=None, access_log=True)])

    @app.get("/work")
    async def work() -> dict[str, str]:
        await asyncio.sleep(0)  # the other requests run in between
        get_logger("shipyard.test").warning("ours")
        logging.getLogger("thirdparty").warning("foreign")
        return {}

    ids = [f"logged-{n}" for n in range(4)]
    with production_logs() as logs:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            await asyncio.gather(*(http.get("/work", headers={"X-Request-ID": rid}) for rid in ids))
        get_logger("shipyard.test").warning("after")
    lines = logs.lines()
    for rid in ids:
        events = sorted(line["event"] for line in lines if line.get("request_id") == rid)
        assert events == ["foreign", "ours", "request"]
    [after] = [line for line in lines if line["event"] == "after"]
    assert "request_id" not in after


def _access_app(*, behind_proxy: bool) -> FastAPI:
    middleware = [Middleware(RequestContextMiddleware, metrics=None, access_log=True)]
    if behind_proxy:
        middleware.insert(0, Middleware(ProxyHeadersMiddleware))
    app = FastAPI(middleware=middleware)

    @app.get("/where")
    async def where() -> dict[str, str]:
        return {}

    return app


async def _access_line(app: FastAPI, client: tuple[str, int], headers: dict[str, str]) -> dict[str, Any]:
    transport = httpx.ASGITransport(app=app, client=client)
    with production_logs() as logs:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/where", headers=headers)).status_code == 200
    [line] = logs.events("request")
    return line


async def test_access_line_names_the_socket_peer_without_a_trusted_proxy() -> None:
    line = await _access_line(
        _access_app(behind_proxy=False), ("198.51.100.7", 50000), {"X-Forwarded-For": "203.0.113.9"}
    )
    # Without SHIPYARD_TRUST_PROXY_HEADERS a client's X-Forwarded-For proves nothing.
    assert line["client_ip"] == "198.51.100.7"


async def test_access_line_takes_the_client_ip_the_one_trusted_hop_vouches_for() -> None:
    line = await _access_line(
        _access_app(behind_proxy=True),
        ("127.0.0.1", 50000),
        # The client wrote the first entry; the proxy appended the peer it saw.
        {"X-Forwarded-For": "192.0.2.66, 2001:DB8::1"},
    )
    assert line["client_ip"] == "2001:db8::1"
