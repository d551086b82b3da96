"""The scale phase: what a list, a filter, a cursor page and an MCP aggregate cost as a tenant grows.

One database holds a small tenant and a large one. The same requests are timed three times:
`alone` (the small tenant, the large one still empty), `base` (the large tenant at 50k invoices)
and `large` (grown to 1M invoices and 2M audit events), each tenant through its own token, one
request at a time over a kept-alive connection, so a timing is the route's own latency and not a
queue. Rows are loaded with COPY (bench/bulk.py); statistics are refreshed after each load, as
autovacuum would on a database that grew to that size.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import bulk
import httpx2
import seed
from gunicorn_process import Gunicorn
from measuring import phase

if TYPE_CHECKING:
    from tests.fixtures.servers import PostgresServer

DATABASE = "shipyard_scale"
MCP_TOOLS = (
    ("org_overview", {}),
    ("receivables_aging", {}),
    ("search_customers", {"query": "customer0042", "limit": 20}),
)
MCP_HEADERS = {
    "content-type": "application/json",
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2025-06-18",
}
WARM_UP = 3
REQUEST_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Sizes:
    """Rows per tenant: the small tenant, the large one at the base point, and at the large point."""

    small_customers: int = 200
    small_invoices: int = 2_000
    small_audit_events: int = 4_000
    large_customers: int = 10_000
    base_invoices: int = 50_000
    base_audit_events: int = 100_000
    large_invoices: int = 1_000_000
    large_audit_events: int = 2_000_000

    def scaled(self, factor: float) -> Sizes:
        """The large tenant's rows times `factor` (the quick mode), the base point too; the small tenant stays."""
        return Sizes(
            self.small_customers,
            self.small_invoices,
            self.small_audit_events,
            max(100, int(self.large_customers * factor)),
            max(1_000, int(self.base_invoices * factor)),
            max(2_000, int(self.base_audit_events * factor)),
            max(2_000, int(self.large_invoices * factor)),
            max(4_000, int(self.large_audit_events * factor)),
        )


def requests_for(tenant: bulk.Tenant) -> dict[str, str]:
    """Every list, filter and cursor page of the tenant's data, by name: the name is the path and query."""
    middle_customer = tenant.customer_ids[len(tenant.customer_ids) // 2]
    paths = {
        "customers": "customers?limit=100",
        "customers?cursor": f"customers?limit=100&cursor={middle_customer}",
        "invoices": "invoices?limit=100",
        "invoices?status=paid": "invoices?status=paid&limit=100",
        "invoices?cursor": f"invoices?limit=100&cursor={tenant.invoice_cursor}",
        "invoices?status=paid&cursor": f"invoices?status=paid&limit=100&cursor={tenant.invoice_cursor}",
        "audit-events": "audit-events?limit=100",
        "audit-events?action": "audit-events?action=invoice.paid&limit=100",
        "audit-events?cursor": f"audit-events?limit=100&cursor={tenant.audit_cursor}",
    }
    return {name: f"/api/v1/{path}" for name, path in paths.items()}


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    # The nearest-rank p95 (rank ceil(0.95 n)): with 30 samples, the second slowest.
    p95 = ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]
    return {"p50_ms": round(statistics.median(ordered), 2), "p95_ms": round(p95, 2), "samples": len(ordered)}


def _timed(call: Callable[[], None], samples: int) -> dict[str, Any]:
    """Percentiles of `samples` calls after a warm-up, or the refusal that made timing it meaningless.

    A refusal (a quota, a tool budget, a 500) is kept as `error` rather than ending the run: the
    verdicts that need this request then miss with the reason, and the other phases still count.
    """
    timings = []
    try:
        for _ in range(WARM_UP):
            call()
        for _ in range(samples):
            began = time.perf_counter()
            call()
            timings.append((time.perf_counter() - began) * 1000)
    except RuntimeError as refused:
        phase(f"  {refused}")
        return {"error": str(refused)}
    return _percentiles(timings)


def _get(client: httpx2.Client, path: str) -> Callable[[], None]:
    def call() -> None:
        response = client.get(path)
        if response.status_code != 200:  # noqa: PLR2004 - a refusal is not a timing
            msg = f"GET {path} answered {response.status_code}: {response.text[:300]}"
            raise RuntimeError(msg)

    return call


def _tool(client: httpx2.Client, name: str, arguments: dict[str, Any]) -> Callable[[], None]:
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}

    def call() -> None:
        response = client.post("/mcp", json=message, headers=MCP_HEADERS)
        answer = response.json() if response.status_code == 200 else {}  # noqa: PLR2004 - JSON-RPC over HTTP
        if "result" not in answer or answer["result"].get("isError"):
            msg = f"MCP {name} answered {response.status_code}: {response.text[:300]}"
            raise RuntimeError(msg)

    return call


def time_tenant(base_url: str, tenant: bulk.Tenant, samples: int) -> dict[str, dict[str, float]]:
    """p50 and p95 of every request of `tenant`, each sent `samples` times after a warm-up."""
    headers = {"authorization": f"Bearer {tenant.token}"}
    timings = {}
    with httpx2.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S) as client:
        for name, path in requests_for(tenant).items():
            timings[name] = _timed(_get(client, path), samples)
        for tool, arguments in MCP_TOOLS:
            timings[tool] = _timed(_tool(client, tool, arguments), samples)
    return timings


def _load(postgres: PostgresServer, database: seed.Database, tenant: bulk.Tenant, **rows: int) -> bulk.Tenant:
    began = time.monotonic()
    grown = asyncio.run(bulk.load(database.copy_url, tenant, seed=len(tenant.customer_ids) + 17, **rows))
    loaded = time.monotonic()
    seed.after_bulk_load(postgres, database)
    phase(
        f"  loaded {', '.join(f'{count:,} {name}' for name, count in rows.items() if count)} "
        f"in {loaded - began:.0f} s, VACUUM ANALYZE {time.monotonic() - loaded:.0f} s"
    )
    return grown


def run(
    postgres: PostgresServer,
    env_for: Callable[[int, str], dict[str, str]],
    port: int,
    log_path: Path,
    *,
    sizes: Sizes,
    samples: int,
) -> dict[str, Any]:
    """Seed, time the three points, and return sizes, timings and where the time went."""
    began = time.monotonic()
    phase(f"scale phase: database {DATABASE}, a small tenant ({sizes.small_invoices:,} invoices)")
    database = seed.create(postgres, DATABASE)
    small = seed.tenant(database, "small")
    small = _load(
        postgres,
        database,
        small,
        customers=sizes.small_customers,
        invoices=sizes.small_invoices,
        audit_events=sizes.small_audit_events,
    )
    large = seed.tenant(database, "large")
    seeding = time.monotonic() - began
    points: dict[str, dict[str, Any]] = {}
    with Gunicorn([], env_for(port, database.app_url), log_path, port, "/ready") as server:
        phase(f"  timing the small tenant alone ({samples} of each request)")
        points["alone"] = {"small": time_tenant(server.base_url, small, samples)}
        for point, invoices, audit_events in (
            ("base", sizes.base_invoices, sizes.base_audit_events),
            ("large", sizes.large_invoices, sizes.large_audit_events),
        ):
            phase(f"  growing the large tenant to {invoices:,} invoices and {audit_events:,} audit events (COPY)")
            step = time.monotonic()
            large = _load(
                postgres,
                database,
                large,
                customers=0 if large.customer_ids else sizes.large_customers,
                invoices=invoices - large.invoices,
                audit_events=audit_events - large.audit_events,
            )
            seeding += time.monotonic() - step
            phase(f"  timing both tenants beside {invoices:,} invoices")
            points[point] = {
                "small": time_tenant(server.base_url, small, samples),
                "large": time_tenant(server.base_url, large, samples),
            }
    return {
        "sizes": {"small": sizes.small_invoices, "base": sizes.base_invoices, "large": sizes.large_invoices},
        "audit_events": {"base": sizes.base_audit_events, "large": sizes.large_audit_events},
        "samples": samples,
        "seconds": {"seeding": round(seeding, 1), "total": round(time.monotonic() - began, 1)},
        "points": points,
    }


def print_points(scale: dict[str, Any] | None) -> None:
    """One row per request: p50 / p95 in ms for each tenant at each point."""
    if scale is None:
        return
    columns = [("alone", "small"), ("base", "small"), ("large", "small"), ("base", "large"), ("large", "large")]
    sizes = scale["sizes"]
    names = {"alone": "alone", "base": f"{sizes['base']:,}", "large": f"{sizes['large']:,}"}
    header = f"{'request (p50 / p95 ms)':<28}" + "".join(
        f"{tenant + ' @' + names[point]:>22}" for point, tenant in columns
    )
    print(f"scale phase: the small tenant ({sizes['small']:,} invoices) and the large one, at each size")
    print(header)
    print("-" * len(header))
    for request in scale["points"]["alone"]["small"]:
        cells = []
        for point, tenant in columns:
            timing = scale["points"][point][tenant][request]
            cells.append("refused" if "error" in timing else f"{timing['p50_ms']:>10.1f} / {timing['p95_ms']:>7.1f}")
        print(f"{request:<28}" + "".join(f"{cell:>22}" for cell in cells))
    print(f"seeding {scale['seconds']['seeding']:.0f} s of the phase's {scale['seconds']['total']:.0f} s")
    print()
