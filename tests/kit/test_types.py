"""The shared request field types: timestamps at the edges of the calendar, and the one rule for text."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from shipyard.models import Customer, ErrorReport
from tests.fixtures.problems import assert_problem
from tests.fixtures.tenants import Tenant
from tests.kit.conftest import count_rows

# Every list that filters on a timestamp, with the parameter it filters on.
TIMESTAMP_FILTERS = [
    ("/api/v1/customers", "created_after"),
    ("/api/v1/customers", "created_before"),
    ("/api/v1/invoices", "created_after"),
    ("/api/v1/customers/cus_01M81G71PZHW1C7WZ9W7YCQNS2/invoices", "created_before"),
    ("/api/v1/audit-events", "occurred_after"),
]
# Valid RFC 3339 instants whose UTC form falls before year 1 or after year 9999.
BEYOND_THE_CALENDAR = ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"]


@pytest.mark.parametrize(("path", "parameter"), TIMESTAMP_FILTERS)
@pytest.mark.parametrize("value", BEYOND_THE_CALENDAR)
async def test_timestamp_without_a_utc_form_is_422_and_reports_no_error(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, path: str, parameter: str, value: str
) -> None:
    response = await client.get(path, params={parameter: value}, headers=tenant.headers)
    body = assert_problem(response, 422, "validation_failed")
    assert [issue["parameter"] for issue in body["errors"]] == [parameter]
    assert await count_rows(app, ErrorReport) == 0


async def test_timestamp_at_the_last_utc_instant_is_accepted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    # The edge itself is a valid filter: an offset that stays inside the calendar is converted, not refused.
    response = await client.get(
        "/api/v1/customers", params={"created_before": "9999-12-31T23:59:59+01:00"}, headers=tenant.headers
    )
    assert response.status_code == 200, response.text


# Validators that accept only a fixed format, which no control or invisible character can pass.
# `_declared_scope` accepts only a declared scope name: the `Scope` enum of before decision 0055,
# checked when a request is validated because the domains install the names after import.
FORMAT_VALIDATORS = frozenset({"EmailStr._validate", "ISO4217._validate", "_declared_scope"})


def _unchecked_strings(node: Any, definitions: dict[str, Any], seen: set[str]) -> int:
    """How many string schemas in `node` neither the text rule nor a format validator guards."""
    if isinstance(node, list):
        return sum(_unchecked_strings(item, definitions, seen) for item in node)
    if not isinstance(node, dict):
        return 0
    kind = node.get("type")
    if kind == "definitions":
        definitions.update({definition["ref"]: definition for definition in node["definitions"]})
    if kind == "definition-ref" and node["schema_ref"] not in seen:
        seen.add(node["schema_ref"])
        return _unchecked_strings(definitions[node["schema_ref"]], definitions, seen)
    if kind and kind.startswith("function-"):
        name = getattr(node["function"]["function"], "__qualname__", "")
        if name == "_storable" or name in FORMAT_VALIDATORS:
            return 0
    found = int(kind == "str")
    return found + sum(
        _unchecked_strings(value, definitions, seen)
        for key, value in node.items()
        if key not in {"function", "serialization", "metadata"}
    )


def test_every_string_in_every_request_body_follows_the_text_rule(app: FastAPI) -> None:
    models = {
        route.body_field.field_info.annotation
        for route in app.routes
        if isinstance(route, APIRoute) and route.body_field
    }
    assert len(models) >= 6, "too few request models found: the sweep would prove little"
    unchecked = {
        model.__name__: n for model in models if (n := _unchecked_strings(model.__pydantic_core_schema__, {}, set()))
    }
    assert unchecked == {}, "use kit.types.Text or Label for these models' strings"


CUSTOMERS = "/api/v1/customers"
# Bidi controls, zero-width characters and spaces show nothing. A lone combining mark is left out on
# purpose: it draws (on a dotted circle), and the rule is one character class the schema can publish.
INVISIBLE_NAMES = ["\u202e\u202d", "\u200b\u200c\u200d\ufeff", " \u2066\u2069 ", "\u00a0\u3000"]
UNSTORABLE = ["a\u0000b", "a\u0007b", "a\u0085b", "a\ud800b"]


@pytest.mark.parametrize("name", INVISIBLE_NAMES + UNSTORABLE)
async def test_customer_name_without_visible_or_storable_text_is_422(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, name: str
) -> None:
    # json.dumps escapes to ASCII, so a lone surrogate travels as the JSON escape \ud800 it would be.
    body = json.dumps({"name": name, "email": "ada@example.com"}).encode()
    response = await client.post(
        CUSTOMERS, content=body, headers={**tenant.headers, "Content-Type": "application/json"}
    )
    problem = assert_problem(response, 422, "validation_failed")
    assert [issue["pointer"] for issue in problem["errors"]] == ["#/name"]
    assert await count_rows(app, Customer) == 0


@pytest.mark.parametrize(
    ("path", "body", "pointer"),
    [
        (CUSTOMERS, {"name": "Ada", "email": "ada@example.com", "metadata": {"note": "a\u0000"}}, "#/metadata/note"),
        (
            CUSTOMERS,
            {"name": "Ada", "email": "ada@example.com", "metadata": {"\u200b": "x"}},
            "#/metadata/\u200b/[key]",
        ),
        ("/api/v1/tokens", {"name": "\u202e", "scopes": ["customers:read"]}, "#/name"),
        ("/api/v1/webhook-endpoints", {"url": "https://example.com/\u0000", "event_types": ["*"]}, "#/url"),
    ],
)
async def test_every_request_string_follows_the_same_rule(
    client: httpx.AsyncClient, tenant: Tenant, path: str, body: dict[str, Any], pointer: str
) -> None:
    response = await client.post(path, json=body, headers=tenant.headers)
    problem = assert_problem(response, 422, "validation_failed")
    assert [issue["pointer"] for issue in problem["errors"]] == [pointer]


async def test_invoice_memo_and_line_follow_the_rule(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await client.post(CUSTOMERS, json={"name": "Ada", "email": "ada@example.com"}, headers=tenant.headers)
    invoices = f"{CUSTOMERS}/{customer.json()['id']}/invoices"
    line = {"description": "Work", "quantity": 1, "unit_amount": 100}
    bad = {"currency": "EUR", "memo": "a\u0000", "line_items": [{**line, "description": "\u200e"}]}
    problem = assert_problem(await client.post(invoices, json=bad, headers=tenant.headers), 422, "validation_failed")
    assert sorted(issue["pointer"] for issue in problem["errors"]) == ["#/line_items/0/description", "#/memo"]


async def test_real_names_and_multiline_text_are_accepted(client: httpx.AsyncClient, tenant: Tenant) -> None:
    # A right-to-left name with its direction mark, a combining accent on a letter, tabs and newlines in a memo.
    for name in ["\u05e9\u05dc\u05d5\u05dd\u200f", "Zoe\u0308", "\u674e \u534e"]:
        response = await client.post(CUSTOMERS, json={"name": name, "email": "ada@example.com"}, headers=tenant.headers)
        assert response.status_code == 201, response.text
        assert response.json()["name"] == name
    invoices = f"{CUSTOMERS}/{response.json()['id']}/invoices"
    line = {"description": "Work", "quantity": 1, "unit_amount": 100}
    memo = "Line one\r\n\tLine two"
    created = await client.post(
        invoices, json={"currency": "EUR", "memo": memo, "line_items": [line]}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["memo"] == memo
