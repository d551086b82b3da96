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
        default = responses["default"]["content"]["application/problem+json"]["schema"]
        assert default == {"$ref": "#/components/schemas/Problem"}, (method, path)
        assert "401" in responses, (method, path)
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == ["application/problem+json"], (method, path, status)


async def test_mutating_operations_accept_an_idempotency_key(spec: dict[str, Any]) -> None:
    seen = 0
    for method, path, operation in _operations(spec):
        headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        if method in MUTATING:
            seen += 1
            key = headers["Idempotency-Key"]
            assert key["required"] is False, (method, path)
            assert key["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
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
