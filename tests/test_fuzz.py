"""Schemathesis against the app's own /openapi.json, with every check it has: the server does what the document says.

One test per operation of the spec (schemathesis's coverage and fuzzing phases, positive and
negative data, derandomized), with every check: no 5xx, declared statuses, headers and bodies only,
invalid data refused and valid data accepted, missing headers and unsupported methods refused. It
runs with an all-scopes token, on a database seeded with real customers, invoices, a
spare token, and webhook endpoints with deliveries, so that item paths reach real objects as well
as missing ones. Jobs do not run here, so nothing is ever sent to the endpoints.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis.python.asgi import get_client, shutdown_lifespans
from schemathesis.specs.openapi.checks import positive_data_acceptance

from shipyard.app import create_app
from shipyard.kit.db import create_database
from shipyard.kit.idempotency import KEY_PATTERN
from shipyard.settings import Settings
from tests.fixtures.tenants import Tenant, create_tenant, issue_token

MAX_EXAMPLES = 10


@dataclass
class Seed:
    """What exists before the fuzzing starts."""

    token: str
    customer_ids: list[str]
    invoices: list[tuple[str, str]]  # (customer_id, invoice_id)
    spare_token_id: str
    deliveries: list[tuple[str, str]] = field(default_factory=list)  # (endpoint_id, delivery_id)


def _tokens(settings: Settings) -> tuple[str, str]:
    """An all-scopes token to fuzz with, and a spare token's ID that DELETE /tokens/{id} may revoke."""

    async def make() -> tuple[str, str]:
        database = create_database(settings)
        try:
            holder = SimpleNamespace(state=SimpleNamespace(database=database))
            tenant = await create_tenant(holder, "Fuzz", "fuzz")
            _, spare_id = await issue_token(holder, tenant, ["customers:read"])
        finally:
            await database.dispose()
        return tenant.token, spare_id

    return asyncio.run(make())


def _seed_objects(app: Any, token: str, spare_token_id: str) -> Seed:
    headers = {"Authorization": f"Bearer {token}"}
    seed = Seed(token=token, customer_ids=[], invoices=[], spare_token_id=spare_token_id)
    with get_client(app) as http:
        assert http.get("/openapi.json").json() == SPEC
        for number in range(2):
            customer = http.post(
                "/api/v1/customers",
                json={"name": f"Seed {number}", "email": f"seed{number}@example.com", "metadata": {"n": str(number)}},
                headers=headers,
            )
            assert customer.status_code == 201, customer.text
            customer_id = customer.json()["id"]
            seed.customer_ids.append(customer_id)
            for status in ("draft", "open"):
                invoice = http.post(
                    f"/api/v1/customers/{customer_id}/invoices",
                    json={
                        "currency": "EUR",
                        "line_items": [{"description": "Work", "quantity": 2, "unit_amount": 1250}],
                        "due_date": "2030-01-31",
                    },
                    headers=headers,
                )
                assert invoice.status_code == 201, invoice.text
                invoice_id = invoice.json()["id"]
                if status == "open":
                    finalized = http.post(
                        f"/api/v1/customers/{customer_id}/invoices/{invoice_id}/finalize", headers=headers
                    )
                    assert finalized.status_code == 200, finalized.text
                seed.invoices.append((customer_id, invoice_id))
        _seed_webhooks(http, headers, seed)
    return seed


def _seed_webhooks(http: Any, headers: dict[str, str], seed: Seed) -> None:
    """Two endpoints (on a loopback port nobody listens on), each with a pending ping delivery."""
    for number in range(2):
        endpoint = http.post(
            "/api/v1/webhook-endpoints",
            json={"url": f"http://127.0.0.1:9/hooks/{number}", "event_types": ["*"]},
            headers=headers,
        )
        assert endpoint.status_code == 201, endpoint.text
        endpoint_id = endpoint.json()["id"]
        ping = http.post(f"/api/v1/webhook-endpoints/{endpoint_id}/test", headers=headers)
        assert ping.status_code == 202, ping.text
        seed.deliveries.append((endpoint_id, ping.json()["id"]))


def _spec() -> dict[str, Any]:
    # Building the app connects to nothing, so the spec can be read at import time (the pytest
    # plugin needs the schema then); every test below runs against its own app and database, and
    # checks that this app serves the very same document at /openapi.json.
    offline = Settings.model_validate({"env": "test", "database_url": "sqlite+aiosqlite:///:memory:"})
    return create_app(offline).openapi()


SPEC = _spec()
schema = schemathesis.openapi.from_dict(copy.deepcopy(SPEC))
schema.config.generation.update(
    # Every request carries the token (below), so generated or removed Authorization headers would
    # only make valid requests look invalid; the auth tests cover missing and bad tokens.
    with_security_parameters=False,
    # Unknown query parameters are ignored, as HTTP APIs commonly do; the spec promises no more.
    allow_extra_parameters=False,
)
IDEMPOTENCY_KEY = re.compile(KEY_PATTERN)
_unique_keys = itertools.count()
# The seed of the test being run, read by the hook below while it generates path parameters.
_current: dict[str, Seed] = {}


@schema.hook
def flatmap_path_parameters(_context: Any, path_parameters: dict[str, Any]) -> Any:
    """Half the time, swap generated IDs for real ones, so item operations reach real objects."""
    seed = _current.get("seed")
    if seed is None or not path_parameters:
        return st.just(path_parameters)
    real_paths = [
        {
            "customer_id": customer_id,
            "invoice_id": invoice_id,
            "token_id": seed.spare_token_id,
            "endpoint_id": endpoint_id,
            "delivery_id": delivery_id,
        }
        for (customer_id, invoice_id), (endpoint_id, delivery_id) in zip(
            seed.invoices, itertools.cycle(seed.deliveries), strict=False
        )
    ]
    real = st.sampled_from(real_paths).map(
        lambda ids: {**path_parameters, **{k: ids[k] for k in path_parameters if k in ids}}
    )
    return st.one_of(st.just(path_parameters), real)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/customers", "created_before"),
        ("/api/v1/invoices", "created_after"),
        ("/api/v1/audit-events", "occurred_before"),
    ],
)
async def test_list_filters_refuse_a_number_as_a_timestamp(
    client: httpx.AsyncClient, tenant: Tenant, path: str, name: str
) -> None:
    response = await client.get(path, params={name: "0.5"}, headers=tenant.headers)
    assert response.status_code == 422


@pytest.mark.postgres_only
@pytest.mark.parametrize("where", ["body", "metadata", "path", "query"])
async def test_a_nul_character_is_a_client_error(client: httpx.AsyncClient, tenant: Tenant, where: str) -> None:
    customers = "/api/v1/customers"
    if where == "body":
        response = await client.post(
            customers, json={"name": "A\u0000", "email": "a@example.com"}, headers=tenant.headers
        )
    elif where == "metadata":
        body = {"name": "A", "email": "a@example.com", "metadata": {"k": "v\u0000"}}
        response = await client.post(customers, json=body, headers=tenant.headers)
    elif where == "path":
        response = await client.get(f"{customers}/cus_%00", headers=tenant.headers)
    else:
        response = await client.get("/api/v1/audit-events", params={"action": "a\x00"}, headers=tenant.headers)
    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == "application/problem+json"


@pytest.fixture
def fuzz_settings(settings: Settings) -> Settings:
    """The test's database; webhook endpoints on loopback are allowed (jobs are off: nothing is sent)."""
    return settings.model_copy(update={"webhook_allowed_networks": ["127.0.0.0/8"]})


@pytest.fixture
def fuzz_seed(fuzz_settings: Settings) -> Iterator[tuple[Any, Seed]]:
    """A fresh app on a seeded database; schemathesis's ASGI transport runs its lifespan."""
    token, spare_token_id = _tokens(fuzz_settings)
    app = create_app(fuzz_settings)
    try:
        seed = _seed_objects(app, token, spare_token_id)
        _current["seed"] = seed
        yield app, seed
    finally:
        _current.clear()
        # Schemathesis keeps an app's lifespan running for reuse; end it, which disposes the engines.
        shutdown_lifespans()


@pytest.mark.slow
@schema.parametrize()
@hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_generated_request_within_its_schema(case: Any, fuzz_seed: tuple[Any, Seed]) -> None:
    app, seed = fuzz_seed
    # Checks that send requests of their own (unsupported methods, missing headers) reach this app too.
    case.operation.schema.app = case.operation.app = app
    _make_idempotency_key_unique(case)
    headers = {"Authorization": f"Bearer {seed.token}"}
    response = case.call(base_url="http://testserver", headers=headers)
    # Two documented refusals no schema can express: whether a URL's host resolves (and only to
    # public addresses) is known when it is checked, not from its text; and an invoice total is a
    # sum over the lines. Schema-valid data may meet them; any other refusal of it is a failure.
    documented = _is_problem(response, "webhook_url_refused") or _is_problem(
        response, "validation_failed", pointers=["#/line_items"], detail="the invoice total may not exceed"
    )
    excluded = [positive_data_acceptance] if documented else []
    case.validate_response(
        response, headers=headers, excluded_checks=excluded, transport_kwargs={"base_url": "http://testserver"}
    )


def _make_idempotency_key_unique(case: Any) -> None:
    """Give a valid generated Idempotency-Key a unique (still valid) form; leave an invalid one as generated.

    Hypothesis draws the same few keys ("0", "00") for many payloads, and the same key with another
    payload is, as documented, a 422 `idempotency_key_reused`: correct, but it would hide whether the
    payload itself is accepted. Reuse is tested in tests/kit/test_idempotency.py.
    """
    key = (case.headers or {}).get("Idempotency-Key")
    if not isinstance(key, str) or not IDEMPOTENCY_KEY.fullmatch(key):
        return
    # A counter in front and the key's tail behind keep the key's form (bare or quoted) valid.
    number = next(_unique_keys)
    unique = f'"{number}-{key[1:-1][-200:]}"' if key.startswith('"') else f"{number}-{key[-200:]}"
    case.headers["Idempotency-Key"] = unique


def _is_problem(response: Any, code: str, *, pointers: list[str] | None = None, detail: str = "") -> bool:
    """Whether `response` is the problem `code` (with exactly these error `pointers`, each detail saying `detail`)."""
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict) or body.get("code") != code:
        return False
    if pointers is None:
        return True
    errors = body.get("errors") or []
    return [error.get("pointer") for error in errors] == pointers and all(detail in error["detail"] for error in errors)
