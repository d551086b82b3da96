"""The call boundary: every call audited, no row ever changed, failures recorded and not leaked."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Connection, MetaData, select, text

from shipyard.kit.db import create_database
from shipyard.models import AuditEvent
from shipyard.models.error_report import ErrorReport
from shipyard.settings import Settings
from tests.fixtures.mcp import mcp_session
from tests.fixtures.seed import Seeded

ODD_TEXT: list[Any] = [
    "",
    " ",
    "%",
    "_",
    "\\",
    "' OR '1'='1",
    "'; DROP TABLE customers; --",
    "ünïcödé ✓ 漢字 🚀",
    "\x00nul",
    "a" * 5000,
    None,
    12345,
    ["list"],
]
ODD_LIMITS: list[Any] = [0, -1, -(10**12), 1, 100, 101, 10**12, 10**30, "7", "abc", 2.5, True, None]
ODD_DATES: list[Any] = ["", "2026-13-45", "not a date", "9999-12-31", "0001-01-01", "1970-01-01", None, 20260101]
ODD_STATUSES: list[Any] = ["open", "OPEN", "", "paid; DROP TABLE invoices", None, 5]
# Columns that authenticating a token legitimately touches (throttled last-use bookkeeping).
TOKEN_USE_COLUMNS = {"last_used_at", "last_used_ip", "updated_at"}


def fuzzed_calls(foreign: Seeded) -> list[tuple[str, dict[str, Any]]]:
    ids: list[Any] = [*foreign.customers.values(), *foreign.invoices.values(), foreign.tenant.organization_id]
    ids.append("cus_" + "0" * 26)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("org_overview", {}),
        ("org_overview", {"unexpected": "x"}),
        ("receivables_aging", {}),
        ("queue_depth", {}),
        ("queue_depth", {"limit": -1, "organization_id": foreign.tenant.organization_id}),
        ("drop_everything", {}),
    ]
    calls += [("search_customers", {"query": value}) for value in [*ODD_TEXT, *ids]]
    calls += [("search_customers", {"query": "a", "limit": value}) for value in ODD_LIMITS]
    calls += [("get_customer", {"customer_id": value}) for value in [*ODD_TEXT, *ids]]
    calls += [("get_customer", {})]
    calls += [("list_invoices", {"status": value}) for value in ODD_STATUSES]
    calls += [("list_invoices", {"customer_id": value}) for value in [*ODD_TEXT, *ids]]
    calls += [("list_invoices", {"due_before": value}) for value in ODD_DATES]
    calls += [("list_invoices", {"limit": value}) for value in ODD_LIMITS]
    calls += [("recent_audit_events", {"action": value}) for value in ODD_TEXT]
    calls += [("recent_audit_events", {"limit": value}) for value in ODD_LIMITS]
    calls += [("recent_errors", {"limit": value}) for value in ODD_LIMITS]
    calls += [("query_metrics", {"query": value}) for value in ODD_TEXT]
    calls += [("query_metrics", {"query": "shipyard_build_info", "range_minutes": value}) for value in ODD_LIMITS]
    return calls


def _every_table(connection: Connection) -> dict[str, list[dict[str, Any]]]:
    reflected = MetaData()
    reflected.reflect(connection)
    return {
        table.name: [
            dict(row._mapping) for row in connection.execute(select(table).order_by(*table.primary_key.columns))
        ]
        for table in reflected.sorted_tables
    }


async def snapshot(app: FastAPI) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table in the database (reflected, not just the models), ordered by primary key."""
    async with app.state.database.engine.connect() as connection:
        tables = await connection.run_sync(_every_table)
    assert {"error_reports", "customers", "invoices", "audit_events", "alembic_version"} <= set(tables)
    return tables


def counts_and_latest_update(tables: dict[str, list[dict[str, Any]]]) -> dict[str, tuple[int, datetime | None]]:
    return {
        name: (len(rows), max((row["updated_at"] for row in rows if "updated_at" in row), default=None))
        for name, rows in tables.items()
    }


async def test_no_tool_call_changes_a_row_whatever_the_arguments(
    base_url: str, mcp_app: FastAPI, acme: Seeded, globex: Seeded
) -> None:
    calls = fuzzed_calls(globex)
    before = await snapshot(mcp_app)
    outcomes = []
    async with mcp_session(base_url, acme.tenant.token) as client:
        for tool, arguments in calls:
            result = await client.call_tool(tool, arguments)
            outcomes.append(result.is_error)
    after = await snapshot(mcp_app)

    assert any(outcomes), "the odd inputs should include refused ones"
    assert not all(outcomes), "and accepted ones"
    unchanged = set(before) - {"audit_events", "api_tokens"}
    assert {name: after[name] for name in unchanged} == {name: before[name] for name in unchanged}
    assert {k: v for k, v in counts_and_latest_update(after).items() if k in unchanged} == {
        k: v for k, v in counts_and_latest_update(before).items() if k in unchanged
    }
    ignore = TOKEN_USE_COLUMNS
    assert [{k: v for k, v in r.items() if k not in ignore} for r in after["api_tokens"]] == [
        {k: v for k, v in r.items() if k not in ignore} for r in before["api_tokens"]
    ]
    # The audit log only grew, by exactly one `mcp.tool_called` event per call.
    assert after["audit_events"][: len(before["audit_events"])] == before["audit_events"]
    added = after["audit_events"][len(before["audit_events"]) :]
    assert len(added) == len(calls)
    assert {event["action"] for event in added} == {"mcp.tool_called"}
    assert [event["details"]["tool"] for event in added] == [tool for tool, _ in calls]


async def test_every_call_is_audited_with_tool_token_ip_request_id_and_result(
    base_url: str, mcp_app: FastAPI, acme: Seeded
) -> None:
    headers = {"X-Request-ID": "req-audit-42"}
    async with mcp_session(base_url, acme.tenant.token, headers=headers) as client:
        await client.call_tool("search_customers", {"query": "alice", "limit": 5})
        await client.call_tool("get_customer", {"customer_id": ""})
    async with mcp_app.state.database.reader() as session:
        events = list(
            await session.scalars(
                select(AuditEvent).where(AuditEvent.action == "mcp.tool_called").order_by(AuditEvent.id)
            )
        )
    assert [(e.details["tool"], e.result) for e in events] == [
        ("search_customers", "success"),
        ("get_customer", "failure"),
    ]
    for event in events:
        assert event.organization_id == acme.tenant.organization_id
        assert event.token_id == acme.tenant.token_id
        assert event.actor_type == "token"
        assert event.ip == "127.0.0.1"
        assert event.request_id == "req-audit-42"
        assert event.target_type == "mcp_tool"
    assert events[0].details["arguments"] == {"query": "alice", "limit": "5"}


async def test_a_tool_that_fails_on_the_server_answers_with_its_request_id_and_records_the_error(
    base_url: str, mcp_app: FastAPI, acme: Seeded, settings: Settings, database_urls: tuple[str, str]
) -> None:
    # A real failure: the invoices table disappears under the running app (as the DDL role).
    ddl = create_database(settings, url=database_urls[1])
    try:
        async with ddl.writer() as session:
            await session.execute(text("DROP TABLE invoices"))
            await session.commit()
    finally:
        await ddl.dispose()
    async with mcp_session(base_url, acme.tenant.token, headers={"X-Request-ID": "req-tool-boom"}) as client:
        result = await client.call_tool("list_invoices", {"status": "open"})
    message = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error is True
    assert "req-tool-boom" in message
    for detail in ("SELECT", "Error:", "no such table", "does not exist", "org_"):
        assert detail not in message  # neither SQL nor the database's words reach the caller
    async with mcp_app.state.database.reader() as session:
        report = await session.scalar(select(ErrorReport).where(ErrorReport.request_id == "req-tool-boom"))
    assert report is not None
    assert (report.route, report.method, report.status) == ("mcp:list_invoices", "TOOL", 500)
    assert report.organization_id == acme.tenant.organization_id
    assert report.exception_type is not None
    assert report.exception_type.startswith("sqlalchemy.exc.")
