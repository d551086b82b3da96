"""The invoice lifecycle: draft → open (finalize) → paid (pay) or void (void); nothing else."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.fixtures.billing import act, create_customer, create_invoice, invoice_path
from tests.fixtures.tenants import Tenant

# How to reach each status from a fresh draft.
ROUTE_TO = {"draft": [], "open": ["finalize"], "paid": ["finalize", "pay"], "void": ["finalize", "void"]}
# Every (status, action) pair except draft-finalize, open-pay and open-void.
ILLEGAL = [
    ("draft", "pay"),
    ("draft", "void"),
    ("open", "finalize"),
    ("paid", "finalize"),
    ("paid", "pay"),
    ("paid", "void"),
    ("void", "finalize"),
    ("void", "pay"),
    ("void", "void"),
]


async def _invoice_in(client: httpx.AsyncClient, tenant: Tenant, status: str) -> dict[str, Any]:
    customer = await create_customer(client, tenant)
    invoice = await create_invoice(client, tenant, customer["id"])
    for action in ROUTE_TO[status]:
        response = await act(client, tenant, invoice, action)
        assert response.status_code == 200, response.text
        invoice = response.json()
    assert invoice["status"] == status
    return invoice


def _at(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


async def test_finalize_opens_a_draft_and_stamps_finalized_at(client: httpx.AsyncClient, tenant: Tenant) -> None:
    draft = await _invoice_in(client, tenant, "draft")
    draft_etag = (await client.get(invoice_path(draft), headers=tenant.headers)).headers["etag"]
    before = datetime.now(UTC)

    response = await act(client, tenant, draft, "finalize")

    assert response.status_code == 200, response.text
    invoice = response.json()
    assert invoice["status"] == "open"
    assert before <= _at(invoice["finalized_at"]) <= datetime.now(UTC)
    assert invoice["paid_at"] is None
    assert invoice["voided_at"] is None
    assert response.headers["etag"] != draft_etag
    stored = await client.get(invoice_path(draft), headers=tenant.headers)
    assert stored.json() == invoice
    assert stored.headers["etag"] == response.headers["etag"]


async def test_paying_an_open_invoice_stamps_paid_at(client: httpx.AsyncClient, tenant: Tenant) -> None:
    invoice = await _invoice_in(client, tenant, "paid")
    assert _at(invoice["finalized_at"]) <= _at(invoice["paid_at"])
    assert invoice["voided_at"] is None
    assert (await client.get(invoice_path(invoice), headers=tenant.headers)).json() == invoice


async def test_voiding_an_open_invoice_stamps_voided_at(client: httpx.AsyncClient, tenant: Tenant) -> None:
    invoice = await _invoice_in(client, tenant, "void")
    assert _at(invoice["finalized_at"]) <= _at(invoice["voided_at"])
    assert invoice["paid_at"] is None
    assert (await client.get(invoice_path(invoice), headers=tenant.headers)).json() == invoice


async def test_the_number_and_lines_survive_the_lifecycle(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await create_customer(client, tenant)
    draft = await create_invoice(client, tenant, customer["id"])
    paid = await _invoice_in(client, tenant, "paid")
    assert paid["number"] == draft["number"] + 1
    assert (paid["line_items"], paid["total"], paid["currency"]) == (
        draft["line_items"],
        draft["total"],
        draft["currency"],
    )


@pytest.mark.parametrize(("status", "action"), ILLEGAL, ids=[f"{a}-{s}" for s, a in ILLEGAL])
async def test_every_illegal_transition_is_409_and_changes_nothing(
    client: httpx.AsyncClient, tenant: Tenant, status: str, action: str
) -> None:
    invoice = await _invoice_in(client, tenant, status)
    before = await client.get(invoice_path(invoice), headers=tenant.headers)

    response = await act(client, tenant, invoice, action)

    assert response.status_code == 409, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "invalid_state_transition"
    assert problem["current_status"] == status
    after = await client.get(invoice_path(invoice), headers=tenant.headers)
    assert after.json() == before.json()
    assert after.headers["etag"] == before.headers["etag"]


@pytest.mark.parametrize("status", ["open", "paid", "void"])
async def test_only_drafts_can_be_patched(client: httpx.AsyncClient, tenant: Tenant, status: str) -> None:
    invoice = await _invoice_in(client, tenant, status)
    response = await client.patch(invoice_path(invoice), json={"memo": "changed"}, headers=tenant.headers)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "invalid_state_transition"
    assert (await client.get(invoice_path(invoice), headers=tenant.headers)).json() == invoice


@pytest.mark.parametrize("status", ["open", "paid", "void"])
async def test_only_drafts_can_be_deleted(client: httpx.AsyncClient, tenant: Tenant, status: str) -> None:
    invoice = await _invoice_in(client, tenant, status)
    response = await client.delete(invoice_path(invoice), headers=tenant.headers)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "invalid_state_transition"
    assert (await client.get(invoice_path(invoice), headers=tenant.headers)).json() == invoice


async def test_a_draft_can_be_patched_then_finalized(client: httpx.AsyncClient, tenant: Tenant) -> None:
    draft = await _invoice_in(client, tenant, "draft")
    patched = await client.patch(invoice_path(draft), json={"memo": "final"}, headers=tenant.headers)
    assert patched.status_code == 200
    opened = (await act(client, tenant, draft, "finalize")).json()
    assert opened["memo"] == "final"
    assert opened["status"] == "open"


@pytest.mark.parametrize(("status", "actions"), [("open", ("pay", "void")), ("draft", ("finalize", "finalize"))])
async def test_racing_transitions_let_exactly_one_win(
    client: httpx.AsyncClient, tenant: Tenant, status: str, actions: tuple[str, str]
) -> None:
    invoice = await _invoice_in(client, tenant, status)

    responses = await asyncio.gather(*(act(client, tenant, invoice, action) for action in actions))

    codes = sorted(r.status_code for r in responses)
    assert codes == [200, 409], [r.text for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 200)
    loser = next(r.json() for r in responses if r.status_code == 409)
    # SQLite serialises the writers (the loser sees the new status); PostgreSQL's version check catches it.
    assert loser["code"] in {"invalid_state_transition", "concurrent_update"}
    stored = (await client.get(invoice_path(invoice), headers=tenant.headers)).json()
    assert stored == winner
    assert [stored["paid_at"] is not None, stored["voided_at"] is not None].count(True) <= 1
