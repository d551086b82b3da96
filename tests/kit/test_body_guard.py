"""413 for bodies over `max_body_bytes` (declared or streamed) and 415 for non-JSON API bodies."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from shipyard.models import Customer
from tests.fixtures.problems import assert_problem
from tests.fixtures.tenants import Tenant
from tests.kit.conftest import ClientFactory, count_rows

CUSTOMERS = "/api/v1/customers"
SMALL_LIMIT = 1024
CUSTOMER = json.dumps({"name": "Ada", "email": "ada@example.com"}).encode()


def _padded(size: int) -> bytes:
    # Trailing whitespace keeps the document valid JSON of exactly `size` bytes.
    return CUSTOMER + b" " * (size - len(CUSTOMER))


async def _chunks(body: bytes, size: int = 100) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _json(tenant: Tenant, **extra: str) -> dict[str, str]:
    return {**tenant.headers, "Content-Type": "application/json", **extra}


async def test_body_over_the_default_one_mib_is_413(app: FastAPI, client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(CUSTOMERS, content=_padded(1024 * 1024 + 1), headers=_json(tenant))
    body = assert_problem(response, 413, "request_too_large")
    assert body["limit_bytes"] == 1024 * 1024
    assert await count_rows(app, Customer) == 0


async def test_body_of_exactly_the_limit_is_accepted(make_client: ClientFactory, tenant: Tenant) -> None:
    app, client = await make_client(max_body_bytes=SMALL_LIMIT)
    response = await client.post(CUSTOMERS, content=_padded(SMALL_LIMIT), headers=_json(tenant))
    assert response.status_code == 201, response.text
    assert await count_rows(app, Customer) == 1


async def test_streamed_body_without_length_over_the_limit_is_413(make_client: ClientFactory, tenant: Tenant) -> None:
    app, client = await make_client(max_body_bytes=SMALL_LIMIT)
    request = client.build_request("POST", CUSTOMERS, content=_chunks(_padded(SMALL_LIMIT * 3)), headers=_json(tenant))
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    response = await client.send(request)
    body = assert_problem(response, 413, "request_too_large")
    assert body["limit_bytes"] == SMALL_LIMIT
    assert await count_rows(app, Customer) == 0


async def test_streamed_body_over_the_limit_with_idempotency_key_is_413(
    make_client: ClientFactory, tenant: Tenant
) -> None:
    # With a key, the unit of work reads the body itself (to fingerprint it) before FastAPI does.
    app, client = await make_client(max_body_bytes=SMALL_LIMIT)
    headers = _json(tenant, **{"Idempotency-Key": "big-1"})
    response = await client.post(CUSTOMERS, content=_chunks(_padded(SMALL_LIMIT + 1)), headers=headers)
    assert_problem(response, 413, "request_too_large")
    retry = await client.post(CUSTOMERS, content=CUSTOMER, headers=headers)
    assert retry.status_code == 201, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert await count_rows(app, Customer) == 1


async def test_streamed_body_within_the_limit_is_accepted(make_client: ClientFactory, tenant: Tenant) -> None:
    _, client = await make_client(max_body_bytes=SMALL_LIMIT)
    response = await client.post(CUSTOMERS, content=_chunks(_padded(SMALL_LIMIT)), headers=_json(tenant))
    assert response.status_code == 201, response.text


async def test_declared_length_over_the_limit_is_refused_after_authentication(
    make_client: ClientFactory, tenant: Tenant
) -> None:
    # Without a token the same request is a 401 (tests/identity/test_check_order.py).
    app, client = await make_client(max_body_bytes=SMALL_LIMIT)
    response = await client.post(CUSTOMERS, content=_padded(SMALL_LIMIT + 1), headers=_json(tenant))
    assert_problem(response, 413, "request_too_large")
    assert await count_rows(app, Customer) == 0


async def test_plain_text_body_is_415(app: FastAPI, client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(CUSTOMERS, content=CUSTOMER, headers={**tenant.headers, "Content-Type": "text/plain"})
    assert_problem(response, 415, "unsupported_media_type")
    assert response.headers["accept-post"] == "application/json"
    assert await count_rows(app, Customer) == 0


async def test_body_without_content_type_is_415(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post(CUSTOMERS, content=CUSTOMER, headers=tenant.headers)
    assert_problem(response, 415, "unsupported_media_type")


async def test_json_with_charset_or_json_suffix_is_accepted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for n, content_type in enumerate(("application/json; charset=utf-8", "application/merge-patch+json")):
        body = json.dumps({"name": "Ada", "email": f"ada{n}@example.com"}).encode()
        response = await client.post(CUSTOMERS, content=body, headers={**tenant.headers, "Content-Type": content_type})
        assert response.status_code == 201, (content_type, response.text)


async def test_bodyless_action_needs_no_content_type(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post(CUSTOMERS, json={"name": "Ada", "email": "ada@example.com"}, headers=tenant.headers)
    response = await client.delete(f"{CUSTOMERS}/{created.json()['id']}", headers=tenant.headers)
    assert response.status_code == 204, response.text


async def test_unparsable_content_length_is_not_a_server_error(client: httpx.AsyncClient, tenant: Tenant) -> None:
    # "²" passes str.isdigit() but not int(); the guard must not crash on it.
    headers = {**tenant.headers, "Content-Type": "text/plain", "Content-Length": "\u00b2".encode("latin-1")}
    response = await client.post(CUSTOMERS, content=b"{}", headers=headers)
    assert_problem(response, 415, "unsupported_media_type")


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("second", ["Bearer shp_not_a_real_token", None])
async def test_two_authorization_headers_are_400(
    client: httpx.AsyncClient, tenant: Tenant, method: str, second: str | None
) -> None:
    # Whichever header came first, the request is refused: neither credential is chosen silently.
    authorization = tenant.headers["Authorization"]
    for pair in ([authorization, second or authorization], [second or authorization, authorization]):
        headers = [("Authorization", value) for value in pair] + [("Content-Type", "application/json")]
        response = await client.request(method, CUSTOMERS, content=CUSTOMER, headers=headers)
        assert_problem(response, 400, "duplicate_authorization")


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"name": "Ada", "name": "Grace", "email": "ada@example.com"}', "name"),
        (b'{"name": "Ada", "email": "ada@example.com", "metadata": {"k": "1", "k": "2"}}', "k"),
        # Escapes name the same member: "n\\u0061me" is "name".
        (b'{"name": "Ada", "n\\u0061me": "Grace", "email": "ada@example.com"}', "name"),
    ],
)
async def test_duplicate_json_key_is_422_and_nothing_is_created(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, body: bytes, key: str
) -> None:
    response = await client.post(CUSTOMERS, content=body, headers=_json(tenant))
    problem = assert_problem(response, 422, "duplicate_json_key")
    assert problem["key"] == key
    assert await count_rows(app, Customer) == 0


async def test_duplicate_json_key_is_found_in_a_streamed_body(make_client: ClientFactory, tenant: Tenant) -> None:
    app, client = await make_client(max_body_bytes=SMALL_LIMIT)
    body = b'{"email": "ada@example.com", "name": "Ada", "name": "Grace"}'
    response = await client.post(
        CUSTOMERS, content=_chunks(body, size=7), headers=_json(tenant, **{"Idempotency-Key": "k-1"})
    )
    assert_problem(response, 422, "duplicate_json_key")
    assert await count_rows(app, Customer) == 0


async def test_same_key_in_different_objects_is_accepted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    body = b'{"name": "Ada", "email": "ada@example.com", "metadata": {"name": "x"}}'
    response = await client.post(CUSTOMERS, content=body, headers=_json(tenant))
    assert response.status_code == 201, response.text
