"""The organisation aggregates (`org_overview`, `receivables_aging`) never read the invoices table.

The statements are those the tools really run (captured as they run), explained on a database
whose organisation holds thousands of invoices: every plan reads the invoice totals, none reads
`invoices`, so an answer costs a few summary rows however many invoices there are (decisions/0058).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.identity.principal import Principal
from shipyard.invoice_totals import service as invoice_totals
from shipyard.kit.db import Database
from shipyard.kit.ids import new_id
from shipyard.mcp import service
from shipyard.models import Customer, Invoice, Organization, Role
from tests.fixtures.query_plans import captured_statements, plan_of, reads

INVOICES = 4_000
STATUSES = ("draft", "open", "paid", "void")


async def _seed(session: AsyncSession) -> str:
    organization = Organization(name="Large", slug="large")
    session.add(organization)
    await session.flush()
    customer = Customer(organization_id=organization.id, name="c", email="c@large.example")
    session.add(customer)
    await session.flush()
    now = datetime.now(UTC)
    rows = [
        {
            "id": new_id("inv"),
            "organization_id": organization.id,
            "customer_id": customer.id,
            "number": number,
            "status": STATUSES[number % 4],
            "currency": ("EUR", "USD", "GBP")[number % 3],
            "line_items": [],
            "total": number,
            "due_date": date(2026, 1, 1) + timedelta(days=number % 365),
            "memo": "",
            "finalized_at": now,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        for number in range(1, INVOICES + 1)
    ]
    await session.execute(insert(Invoice), rows)
    # Bulk-loaded rows bypass the write paths: the load's own step is to rebuild the totals.
    await invoice_totals.rebuild(session, organization.id)
    return organization.id


def _reads(plan: str, table: str) -> bool:
    if '"Node Type"' in plan:  # PostgreSQL
        return f'"Relation Name": "{table}"' in plan
    return any(f"{verb} {table} " in f"{line} " for line in plan.splitlines() for verb in ("SCAN", "SEARCH"))


@pytest.mark.parametrize("tool", ["org_overview", "receivables_aging"])
async def test_the_aggregate_tools_read_the_totals_and_never_the_invoices(database: Database, tool: str) -> None:
    async with database.writer() as session:
        organization_id = await _seed(session)
        await session.commit()
    principal = Principal(organization_id=organization_id, user_id="usr_x", role=Role.OWNER, scopes=frozenset())
    async with database.writer() as session:
        await (await session.connection()).exec_driver_sql("ANALYZE")
        with captured_statements(database.write_engine) as statements:
            if tool == "org_overview":
                answer: Any = await service.org_overview(session, principal)
                assert sum(answer.invoices_by_status.model_dump().values()) == INVOICES
            else:
                answer = await service.receivables_aging(session, principal, datetime.now(UTC).date())
                assert sum(bucket.invoices for bucket in answer.buckets) == INVOICES // 4
        plans = [await plan_of(session, s, p, analyze=False) for s, p in reads(statements)]
    assert not [plan for plan in plans if _reads(plan, "invoices")]
    assert any(_reads(plan, "invoice_totals") or _reads(plan, "open_invoice_aging") for plan in plans)
