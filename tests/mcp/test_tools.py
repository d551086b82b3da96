"""Each tool returns the seeded organisation's data, and never another organisation's."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp.client import Client

from shipyard.auth import audit as auth_audit
from shipyard.models import Role
from tests.fixtures.mcp import mcp_session
from tests.fixtures.seed import Seeded, days_from_today
from tests.fixtures.tenants import Tenant, add_member, issue_token

ACME_OUTSTANDING = [
    {"amount": 12500, "currency": "EUR", "formatted": "125.00 EUR"},
    {"amount": 150000, "currency": "JPY", "formatted": "150,000 JPY"},
    {"amount": 1500, "currency": "KWD", "formatted": "1.500 KWD"},
    {"amount": 700, "currency": "USD", "formatted": "7.00 USD"},
]


async def call(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments or {})
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert result.is_error is False, text
    assert result.structured_content is not None
    return {**result.structured_content, "_text": text}


def leaks(answer: dict[str, Any], other: Seeded) -> set[str]:
    dumped = json.dumps(answer)
    return {identifier for identifier in other.ids() if identifier in dumped} | (
        {"globex"} if "globex" in dumped.lower() else set()
    )


async def test_org_overview_counts_customers_members_invoices_and_outstanding(
    base_url: str, acme: Seeded, globex: Seeded
) -> None:
    async with mcp_session(base_url, acme.tenant.token) as client:
        overview = await call(client, "org_overview")
    assert overview["organization"] == {"id": acme.tenant.organization_id, "slug": "acme", "name": "Acme"}
    assert overview["customers"] == 3
    assert overview["members"] == 1
    assert overview["invoices_by_status"] == {"draft": 1, "open": 5, "paid": 1, "void": 1}
    assert overview["outstanding"] == ACME_OUTSTANDING
    assert "125.00 EUR" in overview["_text"]
    assert leaks(overview, globex) == set()


async def test_search_customers_matches_name_or_email_in_any_case_and_only_active_ones(
    base_url: str, acme: Seeded, globex: Seeded
) -> None:
    async with mcp_session(base_url, acme.tenant.token) as client:
        alice = await call(client, "search_customers", {"query": "ALICE"})
        by_domain = await call(client, "search_customers", {"query": "acme-clients"})
        newest_two = await call(client, "search_customers", {"query": "", "limit": 2})
        wildcard = await call(client, "search_customers", {"query": "%"})
    assert [c["id"] for c in alice["customers"]] == [acme.customers["alice"]]
    assert [c["id"] for c in by_domain["customers"]] == [acme.customers[k] for k in ("carol", "bob", "alice")]
    assert [c["id"] for c in newest_two["customers"]] == [acme.customers["carol"], acme.customers["bob"]]
    assert newest_two["has_more"] is True
    assert by_domain["has_more"] is False
    assert wildcard["customers"] == []
    for answer in (alice, by_domain, newest_two):
        assert leaks(answer, globex) == set()


async def test_get_customer_includes_recent_invoices_and_what_it_owes(
    base_url: str, acme: Seeded, globex: Seeded
) -> None:
    async with mcp_session(base_url, acme.tenant.token) as client:
        detail = await call(client, "get_customer", {"customer_id": acme.customers["alice"]})
    assert detail["customer"]["email"] == "alice@acme-clients.example"
    assert [i["id"] for i in detail["recent_invoices"]] == [acme.invoices["eur_45d"], acme.invoices["eur_10d"]]
    assert detail["outstanding"] == [{"amount": 12500, "currency": "EUR", "formatted": "125.00 EUR"}]
    assert detail["recent_invoices"][0]["total"] == {"amount": 2500, "currency": "EUR", "formatted": "25.00 EUR"}
    assert detail["recent_invoices"][0]["due_date"] == days_from_today(-45)
    assert leaks(detail, globex) == set()


async def test_get_customer_of_another_organisation_or_archived_is_not_found(
    base_url: str, acme: Seeded, globex: Seeded
) -> None:
    async with mcp_session(base_url, acme.tenant.token) as client:
        for customer_id in (globex.customers["alice"], acme.customers["archived"], "cus_00000000000000000000000000"):
            result = await client.call_tool("get_customer", {"customer_id": customer_id})
            assert result.is_error is True
            assert "No customer" in result.content[0].text  # type: ignore[union-attr]
            assert "Globex" not in result.content[0].text  # type: ignore[union-attr]


async def test_list_invoices_filters_by_status_customer_and_due_date(
    base_url: str, acme: Seeded, globex: Seeded
) -> None:
    async with mcp_session(base_url, acme.tenant.token) as client:
        open_ = await call(client, "list_invoices", {"status": "open"})
        bobs = await call(client, "list_invoices", {"customer_id": acme.customers["bob"]})
        overdue = await call(client, "list_invoices", {"due_before": days_from_today(-60)})
        one = await call(client, "list_invoices", {"limit": 1})
        everything = await call(client, "list_invoices", {"limit": 100})
        others = await call(client, "list_invoices", {"customer_id": globex.customers["alice"]})
    open_labels = {"eur_10d", "eur_45d", "jpy_75d", "kwd_120d", "usd_undated"}
    assert {i["id"] for i in open_["invoices"]} == {acme.invoices[k] for k in open_labels}
    assert {i["id"] for i in bobs["invoices"]} == {acme.invoices[k] for k in ("jpy_75d", "kwd_120d", "usd_undated")}
    assert {i["id"] for i in overdue["invoices"]} == {acme.invoices[k] for k in ("jpy_75d", "kwd_120d")}
    assert [i["id"] for i in one["invoices"]] == [acme.invoices["void"]]
    assert one["has_more"] is True
    assert {i["id"] for i in everything["invoices"]} == set(acme.invoices.values())
    kwd = next(i for i in overdue["invoices"] if i["id"] == acme.invoices["kwd_120d"])
    assert kwd["total"] == {"amount": 1500, "currency": "KWD", "formatted": "1.500 KWD"}
    assert others["invoices"] == []
    for answer in (open_, bobs, overdue, everything):
        assert leaks(answer, globex) == set()


async def test_receivables_aging_buckets_open_amounts_by_days_past_due(
    base_url: str, acme: Seeded, globex: Seeded
) -> None:
    async with mcp_session(base_url, acme.tenant.token) as client:
        aging = await call(client, "receivables_aging")
    buckets = {b["bucket"]: b for b in aging["buckets"]}
    assert list(buckets) == ["0-30", "31-60", "61-90", "90+"]
    assert buckets["0-30"]["invoices"] == 2
    assert [(m["currency"], m["amount"]) for m in buckets["0-30"]["amounts"]] == [("EUR", 10000), ("USD", 700)]
    assert [(m["currency"], m["amount"]) for m in buckets["31-60"]["amounts"]] == [("EUR", 2500)]
    assert [(m["currency"], m["amount"]) for m in buckets["61-90"]["amounts"]] == [("JPY", 150000)]
    # Globex's EUR 777.00, 200 days overdue, must not land in Acme's 90+ bucket.
    assert [(m["currency"], m["amount"]) for m in buckets["90+"]["amounts"]] == [("KWD", 1500)]
    assert aging["total_outstanding"] == ACME_OUTSTANDING
    assert aging["as_of"] == days_from_today(0)
    assert leaks(aging, globex) == set()


async def test_recent_audit_events_shows_the_organisations_own_events(
    base_url: str, acme: Seeded, globex: Seeded
) -> None:
    async with mcp_session(base_url, acme.tenant.token) as client:
        created = await call(client, "recent_audit_events", {"action": "customer.created"})
        latest = await call(client, "recent_audit_events", {"limit": 3})
    assert {e["target_id"] for e in created["events"]} == {acme.customers[k] for k in acme.customers}
    assert all(e["action"] == "customer.created" for e in created["events"])
    assert len(latest["events"]) == 3
    assert latest["has_more"] is True
    assert leaks(created, globex) == set()
    assert leaks(latest, globex) == set()


async def test_recent_audit_events_shows_the_operators_the_failed_sign_ins(
    base_url: str, mcp_app: Any, acme: Seeded, operator: Tenant
) -> None:
    await auth_audit.record_auth_event_now(
        mcp_app.state.database, auth_audit.LOGIN_FAILED, user_id=None, organization_id=None, reason="state_mismatch"
    )
    seen: dict[str, list[str]] = {}
    for name, token in (("ops", operator.token), ("acme", acme.tenant.token)):
        async with mcp_session(base_url, token) as client:
            answer = await call(client, "recent_audit_events", {"action": "auth.login_failed"})
        seen[name] = [event["action"] for event in answer["events"]]
    assert seen == {"ops": ["auth.login_failed"], "acme": []}


async def test_the_other_organisation_sees_only_its_own_data_on_every_tool(
    base_url: str, acme: Seeded, globex: Seeded
) -> None:
    calls: list[tuple[str, dict[str, Any]]] = [
        ("org_overview", {}),
        ("search_customers", {"query": "alice"}),
        ("list_invoices", {"limit": 100}),
        ("receivables_aging", {}),
        ("recent_audit_events", {"limit": 100}),
        ("recent_errors", {"limit": 100}),
        ("queue_depth", {}),
    ]
    async with mcp_session(base_url, globex.tenant.token) as client:
        answers = [await call(client, tool, arguments) for tool, arguments in calls]
        # Another organisation's IDs as arguments find nothing (they are echoed back, so checked apart).
        missing = await client.call_tool("get_customer", {"customer_id": acme.customers["alice"]})
        foreign = await call(client, "list_invoices", {"customer_id": acme.customers["alice"]})
    for (tool, _), answer in zip(calls, answers, strict=True):
        dumped = json.dumps(answer)
        assert not [i for i in acme.ids() if i in dumped], tool
        assert "Acme" not in dumped, tool
    assert answers[0]["customers"] == 1
    assert answers[0]["outstanding"] == [{"amount": 77700, "currency": "EUR", "formatted": "777.00 EUR"}]
    assert missing.is_error is True
    assert foreign["invoices"] == []


@pytest.mark.parametrize(
    ("tool", "allowed"),
    [("org_overview", True), ("list_invoices", True), ("recent_audit_events", False), ("recent_errors", False)],
)
async def test_a_viewer_token_reads_only_what_a_viewer_may_read(
    base_url: str, mcp_app: object, acme: Seeded, tool: str, allowed: bool
) -> None:
    viewer = await add_member(mcp_app, acme.tenant, "viewer@acme.example", Role.VIEWER)
    secret, _ = await issue_token(mcp_app, acme.tenant, ["mcp:read"], user_id=viewer)
    async with mcp_session(base_url, secret) as client:
        result = await client.call_tool(tool, {})
    assert result.is_error is not allowed
    if not allowed:
        assert "viewer" in result.content[0].text  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "arguments",
    [{"limit": "10"}, {"limit": True}, {"limit": 2.5}, {"limt": 10}, {"due_before": 20260101}, {"customer_id": 7}],
    ids=["limit-string", "limit-boolean", "limit-fraction", "unknown-argument", "date-number", "id-number"],
)
async def test_arguments_are_validated_strictly_like_the_rest_api(
    base_url: str, acme: Seeded, arguments: dict[str, Any]
) -> None:
    async with mcp_session(base_url, acme.tenant.token) as client:
        result = await client.call_tool("list_invoices", arguments)
    assert result.is_error is True
    assert "validation error" in result.content[0].text  # type: ignore[union-attr]


async def test_a_whole_number_written_with_a_fraction_is_an_integer(base_url: str, acme: Seeded) -> None:
    async with mcp_session(base_url, acme.tenant.token) as client:
        answer = await call(client, "list_invoices", {"limit": 1.0, "due_before": "2100-01-01"})
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert answer["limit"] == 1
    for tool in tools.values():
        assert tool.input_schema["additionalProperties"] is False, tool.name
