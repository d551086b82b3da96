"""`/openapi.json`: a valid OpenAPI 3.1 document that tells the truth about auth, errors and retries."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

# Schemathesis ships the official OpenAPI 3.1 meta-schema; the fuzz test relies on it anyway.
from schemathesis.specs.openapi.definitions import OPENAPI_31_VALIDATOR

from shipyard.events.catalogue import SUBSCRIBABLE
from shipyard.kit.idempotency import KEY_PATTERN
from tests.fixtures.apps import running_app, settings_for
from tests.fixtures.tenants import Tenant

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
MUTATING = {"post", "patch", "delete", "put"}
TOKEN = re.compile(r"shp_[A-Za-z0-9_-]{8,}")
SECRET_KEY = "this-secret-key-must-never-appear-in-the-spec-0123456789"
DB_PASSWORD = "db-password-never-in-the-spec"


@pytest.fixture
async def spec(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    return response.json()  # type: ignore[no-any-return]


def _operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def _nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _nodes(item)


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


async def test_spec_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert re.fullmatch(r"3\.1\.\d+", spec["openapi"])
    errors = [error.message for error in OPENAPI_31_VALIDATOR.iter_errors(spec)]
    assert errors == []


async def test_every_reference_resolves(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    refs = set(_refs(spec))
    assert "#/components/schemas/Problem" in refs
    for ref in refs:
        prefix, _, name = ref.rpartition("/")
        assert prefix == "#/components/schemas", ref
        assert name in schemas, ref
    # Component schemas are flat: nested models are components, not inline `$defs`.
    assert not [name for name, schema in schemas.items() if "$defs" in schema]


async def test_spec_documents_bearer_auth(spec: dict[str, Any]) -> None:
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http"
    assert scheme["scheme"] == "bearer"
    assert spec["security"] == [{"bearerAuth": []}]


async def test_problem_schema_has_the_rfc_9457_members(spec: dict[str, Any]) -> None:
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) >= {"type", "title", "status", "detail", "code"}
    assert {"request_id", "errors"} <= set(problem["properties"])


async def test_every_operation_documents_problem_errors(spec: dict[str, Any]) -> None:
    operations = list(_operations(spec))
    assert len(operations) >= 15
    for method, path, operation in operations:
        responses = operation["responses"]
        assert "401" in responses, (method, path)
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == ["application/problem+json"], (method, path, status)


async def test_every_operation_declares_its_real_statuses_and_no_catch_all(spec: dict[str, Any]) -> None:
    for method, path, operation in _operations(spec):
        responses = set(operation["responses"])
        assert "default" not in responses, (method, path)
        # A NUL in the URL (400) and the last-resort 500 can answer any operation.
        assert {"400", "500"} <= responses, (method, path)
        if "requestBody" in operation:
            assert {"413", "415", "422"} <= responses, (method, path)
        if method in MUTATING:
            assert {"409", "422"} <= responses, (method, path)
        if operation.get("parameters"):
            assert "422" in responses, (method, path)


async def test_every_api_operation_declares_the_rate_limit_answer(spec: dict[str, Any]) -> None:
    # identity/rate_limit.py counts every /api/v1 call: a 429 with Retry-After and the RateLimit headers.
    api = [(method, path, op) for method, path, op in _operations(spec) if path.startswith("/api/v1/")]
    assert len(api) >= 20
    for method, path, operation in api:
        declared = operation["responses"].get("429", {})
        assert {"Retry-After", "RateLimit-Policy", "RateLimit"} <= set(declared.get("headers", {})), (method, path)
    outside = [
        path for _, path, op in _operations(spec) if "429" in op["responses"] and not path.startswith("/api/v1/")
    ]
    assert outside == []


async def test_a_path_parameter_is_one_segment(spec: dict[str, Any]) -> None:
    seen = 0
    for method, path, operation in _operations(spec):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                seen += 1
                assert parameter["schema"]["pattern"] == "^[^/\u0000]+$", (method, path, parameter["name"])
    assert seen >= 20


async def test_no_schema_carries_a_constraint_json_schema_does_not_know(spec: dict[str, Any]) -> None:
    # Pydantic publishes `ge`/`le` verbatim when they follow a before-validator; validators ignore them.
    unknown = {"ge", "le", "gt", "lt"}
    found = [key for node in _nodes(spec) for key in node if key in unknown and isinstance(node.get("type"), str)]
    assert found == []


async def test_mutating_operations_accept_an_idempotency_key(spec: dict[str, Any]) -> None:
    seen = 0
    for method, path, operation in _operations(spec):
        headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        if method in MUTATING:
            seen += 1
            key = headers["Idempotency-Key"]
            assert key["required"] is False, (method, path)
            assert key["schema"] == {"type": "string", "minLength": 1, "maxLength": 257, "pattern": KEY_PATTERN}
        else:
            assert "Idempotency-Key" not in headers, (method, path)
    assert seen >= 8


async def test_operation_ids_are_unique(spec: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(spec)]
    assert len(ids) == len(set(ids))


async def test_the_reference_domain_is_documented(spec: dict[str, Any]) -> None:
    paths = set(spec["paths"])
    assert {
        "/api/v1/customers",
        "/api/v1/customers/{customer_id}",
        "/api/v1/customers/{customer_id}/invoices",
        "/api/v1/customers/{customer_id}/invoices/{invoice_id}",
        "/api/v1/invoices",
        "/api/v1/tokens",
        "/api/v1/me",
        "/api/v1/audit-events",
    } <= paths
    # Operational routes are not part of the API contract.
    assert not paths & {"/health", "/healthz", "/ready", "/metrics", "/docs"}


async def test_spec_carries_no_secret(tmp_path: Path, database_urls: tuple[str, str], tenant: Tenant) -> None:
    settings = settings_for(
        tmp_path,
        database_url=database_urls[0],
        secret_key=SECRET_KEY,
        redis_url=f"redis://:{DB_PASSWORD}@127.0.0.1:1/0",
    )
    async with running_app(settings) as (_, client):
        response = await client.get("/openapi.json", headers=tenant.headers)
    text = response.text
    assert response.status_code == 200
    assert SECRET_KEY not in text
    assert DB_PASSWORD not in text
    assert tenant.token not in text
    assert TOKEN.findall(text) == []
    assert database_urls[0] not in text
    assert json.loads(text)["info"]["title"] == "Shipyard"


def _parameter(spec: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    parameters = spec["paths"][path][method]["parameters"]
    return next(parameter for parameter in parameters if parameter["name"] == name)


ACCEPTED_KEYS = ["k", "a b", '"abc"', '" padded "', "k" * 255, '"' + "k" * 255 + '"', "~!#$%&'()*+,-./:;<=>?@[]^_`{|}"]
REFUSED_KEYS = ["", "   ", " k", "k ", '""', 'a"b', '"k', "k" * 256, '"' + "k" * 256 + '"', "bad\x01key", "caf\xe9"]


@pytest.mark.parametrize("key", ACCEPTED_KEYS + REFUSED_KEYS)
async def test_the_idempotency_key_pattern_is_exactly_what_the_server_accepts(
    client: httpx.AsyncClient, tenant: Tenant, spec: dict[str, Any], key: str
) -> None:
    pattern = _parameter(spec, "post", "/api/v1/customers", "Idempotency-Key")["schema"]["pattern"]
    headers = {**tenant.headers, "Idempotency-Key": key.encode("latin-1")}
    response = await client.post("/api/v1/customers", json={"name": "Ada", "email": "ada@example.com"}, headers=headers)
    assert response.status_code == (201 if re.fullmatch(pattern, key) else 400), response.text
    assert (key in ACCEPTED_KEYS) == (response.status_code == 201)


@pytest.mark.parametrize(
    "email",
    ["ada@example.com", "ada@mail.test.example.com", "ada@testing.com"]
    + [f"ada@{domain}" for domain in ("shop.test", "x.TEST", "box.invalid", "printer.local", "x.onion", "x.arpa")],
)
async def test_the_email_schema_refuses_exactly_the_special_use_domains_the_server_refuses(
    client: httpx.AsyncClient, tenant: Tenant, spec: dict[str, Any], email: str
) -> None:
    field = spec["components"]["schemas"]["CustomerCreate"]["properties"]["email"]
    refused_by_schema = re.search(field["not"]["pattern"], email) is not None
    response = await client.post("/api/v1/customers", json={"name": "Ada", "email": email}, headers=tenant.headers)
    assert response.status_code == (422 if refused_by_schema else 201), response.text


async def test_cursors_have_the_published_form_and_every_cursor_of_that_form_is_accepted(
    client: httpx.AsyncClient, tenant: Tenant, spec: dict[str, Any]
) -> None:
    pattern = _parameter(spec, "get", "/api/v1/customers", "cursor")["schema"]["pattern"]
    for number in range(3):
        body = {"name": f"C{number}", "email": f"c{number}@example.com"}
        assert (await client.post("/api/v1/customers", json=body, headers=tenant.headers)).status_code == 201
    first = await client.get("/api/v1/customers", params={"limit": 2}, headers=tenant.headers)
    cursor = first.json()["next_cursor"]
    assert re.fullmatch(pattern, cursor)
    second = await client.get("/api/v1/customers", params={"cursor": cursor}, headers=tenant.headers)
    assert len(second.json()["data"]) == 1
    made_up = "cus_" + "7" * 26
    assert re.fullmatch(pattern, made_up)
    response = await client.get("/api/v1/customers", params={"cursor": made_up}, headers=tenant.headers)
    assert response.status_code == 200
    for foreign in ("inv_" + "7" * 26, "", "Y3VzXzAxTTgxRzc4RDJDREdHSjBOTVlZSzNXMjFL"):
        assert not re.fullmatch(pattern, foreign)
        response = await client.get("/api/v1/customers", params={"cursor": foreign}, headers=tenant.headers)
        assert response.status_code == 400, foreign


async def test_webhook_event_types_are_listed_in_the_schema(spec: dict[str, Any]) -> None:
    for model in ("WebhookEndpointCreate", "WebhookEndpointUpdate"):
        event_types = spec["components"]["schemas"][model]["properties"]["event_types"]
        items = next(branch for branch in event_types.get("anyOf", [event_types]) if branch.get("type") == "array")
        assert set(items["items"]["enum"]) == SUBSCRIBABLE
