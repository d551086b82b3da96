"""The invoices domain's share of the tenant-isolation test (`tests/test_tenant_isolation.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from sqlalchemy import func, select

from shipyard.models import EmailMessage
from tests.fixtures.billing import act, create_invoice, invoice_body
from tests.fixtures.tenant_isolation import OwnList, Part, Route, TenantRoutes, World, views
from tests.fixtures.tenants import Tenant

INVOICES = "/api/v1/customers/{customer_id}/invoices"
INVOICE = f"{INVOICES}/{{invoice_id}}"


async def _build(_app: Any, client: httpx.AsyncClient, tenant: Tenant, before: Mapping[str, str]) -> Part:
    """A draft and an open invoice of the customer the customers domain built."""
    draft = await create_invoice(client, tenant, before["customer_id"], memo=f"private note of {tenant.slug}")
    opened = await create_invoice(client, tenant, before["customer_id"])
    opened = (await act(client, tenant, opened, "finalize")).json()
    return Part(
        values={"invoice_id": draft["id"], "draft_invoice_id": draft["id"], "open_invoice_id": opened["id"]},
        variants={"open": {"invoice_id": opened["id"]}},
        secrets=(draft["memo"],),
        listed=frozenset({draft["id"], opened["id"]}),
    )


async def _emails(world: World) -> int:
    """Emails queued for the tenant (the API lists none, but `POST .../send` queues one)."""
    async with world.app.state.database.reader() as session:
        query = select(func.count()).where(EmailMessage.organization_id == world.tenant.organization_id)
        return int(await session.scalar(query) or 0)


async def _snapshot(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    paths = {
        "invoices": "/api/v1/invoices",
        "customer_invoices": INVOICES,
        "draft": f"{INVOICES}/{{draft_invoice_id}}",
        "open": f"{INVOICES}/{{open_invoice_id}}",
    }
    return {**await views(client, world, paths), "emails": await _emails(world)}


TENANT_ROUTES = TenantRoutes(
    routes=(
        Route("GET", INVOICES),
        Route("POST", INVOICES, invoice_body(), ok={201}),
        Route("GET", INVOICE),
        Route("PATCH", INVOICE, {"memo": "Edited by a stranger"}),
        Route("DELETE", INVOICE, ok={204}),
        Route("POST", f"{INVOICE}/finalize"),
        Route("POST", f"{INVOICE}/pay", variant="open"),
        Route("POST", f"{INVOICE}/void", variant="open"),
        Route("POST", f"{INVOICE}/send", variant="open", ok={202}),
    ),
    missing={"invoice_id": f"inv_{'0' * 26}"},
    nested=(("customer_id", "invoice_id"),),
    build=_build,
    snapshot=_snapshot,
    lists=(
        ("/api/v1/invoices", {}),
        ("/api/v1/invoices", {"customer_email": "{customer_email}"}),
        ("/api/v1/invoices", {"status": "open"}),
        ("/api/v1/invoices", {"status": "draft"}),
    ),
    own_lists=(OwnList("/api/v1/invoices", ("draft_invoice_id", "open_invoice_id")),),
)
