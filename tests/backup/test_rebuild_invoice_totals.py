"""`shipyard db rebuild-invoice-totals`: recomputes the totals from the invoices, for one or every organisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select

from shipyard.invoice_totals import repository
from shipyard.models import InvoiceTotal, OpenInvoiceAging
from tests.fixtures.billing import act, create_customer, create_invoice
from tests.fixtures.cli import Cli, cli_env
from tests.fixtures.tenants import Tenant

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def cli(database_urls: tuple[str, str], tmp_path: Path, pycache: Path) -> Cli:
    return Cli(cli_env(pycache, tmp_path, SHIPYARD_DATABASE_URL=database_urls[0]), tmp_path)


async def _invoices(client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await create_customer(client, tenant)
    for actions in ((), ("finalize",), ("finalize", "pay")):
        invoice = await create_invoice(client, tenant, customer["id"])
        for action in actions:
            assert (await act(client, tenant, invoice, action)).status_code == 200


async def _state(app: Any, organization_id: str) -> tuple[int, bool]:
    """(rows kept for the organisation, whether they equal the rows recomputed from its invoices)."""
    async with app.state.database.reader() as session:
        kept = []
        for table in (InvoiceTotal, OpenInvoiceAging):
            columns = [getattr(table, name) for name in (*repository.KEYS[table], "invoice_count", "amount")]
            query = select(*columns).where(table.organization_id == organization_id)
            kept.append(sorted(tuple(map(str, row)) for row in await session.execute(query)))
        dialect = session.get_bind().dialect.name
        expected = [
            sorted(tuple(map(str, row)) for row in await session.execute(q))
            for q in repository.recomputed(dialect, organization_id)
        ]
        count = await session.scalar(
            select(func.count()).select_from(InvoiceTotal).where(InvoiceTotal.organization_id == organization_id)
        )
    return int(count or 0), kept == expected


async def _forget_totals(app: Any) -> None:
    async with app.state.database.writer() as session:
        await session.execute(delete(InvoiceTotal))
        await session.execute(delete(OpenInvoiceAging))
        await session.commit()


async def test_the_command_rebuilds_one_organisation_or_all(
    app: Any,
    client: httpx.AsyncClient,
    tenant: Tenant,
    other_tenant: Tenant,
    cli: Cli,
) -> None:
    await _invoices(client, tenant)
    await _invoices(client, other_tenant)
    await _forget_totals(app)
    assert await _state(app, tenant.organization_id) == (0, False)

    one = cli.run("db", "rebuild-invoice-totals", "--organization", tenant.organization_id)
    assert one.returncode == 0, one.stderr
    assert "rebuilt the invoice totals of 1 organisation(s)" in one.stdout
    assert await _state(app, tenant.organization_id) == (3, True)
    assert await _state(app, other_tenant.organization_id) == (0, False)

    every = cli.run("db", "rebuild-invoice-totals")
    assert every.returncode == 0, every.stderr
    assert await _state(app, other_tenant.organization_id) == (3, True)
