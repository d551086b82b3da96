"""Rows for the bench's databases, loaded with COPY: customers, invoices and audit events of one tenant.

The ORM would take minutes for 50k rows and hours for a million; asyncpg's binary COPY (already the
app's driver) loaded 2.85M rows with their indexes in 223 s on this machine at a load average of
10-15. Rows go in batches, so a million never sit in memory at once. IDs follow `new_id`'s format and
order (see `_ids`): ID order is creation order, as for rows the app creates one by one. The data is
reproducible (one seeded RNG per call), and shaped like the issue's measurements: a quarter of the
invoices open, a quarter paid.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg

from shipyard.kit.ids import new_id

STATUSES = ("draft", "open", "paid", "void")
CURRENCIES = ("EUR", "USD", "GBP")
AUDIT_ACTIONS = ("invoice.created", "invoice.updated", "invoice.finalized", "invoice.paid", "customer.updated")
BATCH = 50_000
# Loading talks to a local, freshly started server; a million rows with their indexes take a few
# minutes on a busy 2-core machine. Anything slower than this is a hang.
COPY_TIMEOUT_S = 900

CUSTOMER_COLUMNS = (
    "id",
    "organization_id",
    "name",
    "email",
    "metadata",
    "archived_at",
    "version",
    "created_at",
    "updated_at",
)
INVOICE_COLUMNS = (
    "id",
    "organization_id",
    "customer_id",
    "number",
    "status",
    "currency",
    "line_items",
    "total",
    "due_date",
    "memo",
    "finalized_at",
    "paid_at",
    "voided_at",
    "version",
    "created_at",
    "updated_at",
)
AUDIT_COLUMNS = (
    "id",
    "organization_id",
    "actor_type",
    "actor_id",
    "token_id",
    "ip",
    "user_agent",
    "request_id",
    "action",
    "target_type",
    "target_id",
    "result",
    "details",
    "occurred_at",
)


@dataclass(frozen=True, slots=True)
class Tenant:
    """One organisation of a bench database, and what has been loaded into it so far."""

    organization_id: str
    token: str
    actor_id: str
    customer_ids: list[str]
    invoices: int = 0
    audit_events: int = 0
    # An ID from the middle of the last load, newest first: a cursor that pages deep into the tenant.
    invoice_cursor: str | None = None
    audit_cursor: str | None = None


def _batches(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _customer_rows(organization_id: str, ids: list[str], seed: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible fake data, not a secret
    start = datetime.now(UTC) - timedelta(days=90)
    for n, cid in enumerate(ids, start=1):
        created = start + timedelta(seconds=n * 60)
        # Metadata is string to string (CustomerRead.metadata).
        metadata = json.dumps({"segment": rng.choice(("smb", "mid", "enterprise")), "seed": str(n)})
        name, email = f"Customer {n:05d}", f"customer{n:05d}@bench.example"
        yield (cid, organization_id, name, email, metadata, None, 1, created, created)


# IDs in new_id's format (a ULID behind a prefix, Crockford base32), made by base64's C encoder in
# about 0.6 of the time new_id's per-character loop takes: a million rows need a million IDs.
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_TO_CROCKFORD = bytes.maketrans(b"0123456789ABCDEFGHIJKLMNOPQRSTUV", _CROCKFORD.encode())


def _ids(prefix: str, count: int, middle: list[str]) -> Iterator[str]:
    """`count` new, increasing IDs, made as they are consumed; the one in the middle goes to `middle`.

    They start after a fresh `new_id`, so they sort after every ID made before, as rows created one by
    one would; the random part then counts up, as new_id's does within one millisecond.
    """
    first = 0
    for char in new_id(prefix).split("_", 1)[1]:
        first = first * 32 + _CROCKFORD.index(char)
    for offset in range(1, count + 1):
        # 160 bits encode to exactly 32 characters; the last 26 hold the ID's 128 bits.
        encoded = base64.b32hexencode((first + offset).to_bytes(20, "big"))[6:].translate(_TO_CROCKFORD)
        made = f"{prefix}_{encoded.decode()}"
        if offset == count // 2 + 1:
            middle.append(made)
        yield made


def _invoice_rows(
    organization_id: str, customer_ids: list[str], ids: Iterator[str], count: int, first_number: int, seed: int
) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible fake data, not a secret
    start = datetime.now(UTC) - timedelta(days=90)
    step = timedelta(days=90) / max(1, count)
    for offset, iid in enumerate(ids):
        number = first_number + offset
        quantity, unit_amount = rng.randint(1, 20), rng.randint(100, 100_000)
        total = quantity * unit_amount
        lines = json.dumps(
            [{"description": "Consulting", "quantity": quantity, "unit_amount": unit_amount, "amount": total}]
        )
        created = start + step * offset
        status = rng.choice(STATUSES)
        yield (
            iid,
            organization_id,
            customer_ids[number % len(customer_ids)],
            number,
            status,
            rng.choice(CURRENCIES),
            lines,
            total,
            date(2026, 1, 1) + timedelta(days=number % 365),
            "",
            created if status != "draft" else None,
            created if status == "paid" else None,
            created if status == "void" else None,
            1,
            created,
            created,
        )


def _audit_rows(
    organization_id: str, actor_id: str, targets: list[str], ids: Iterator[str], count: int, seed: int
) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible fake data, not a secret
    start = datetime.now(UTC) - timedelta(days=90)
    step = timedelta(days=90) / max(1, count)
    for offset, aid in enumerate(ids):
        yield (
            aid,
            organization_id,
            "token",
            actor_id,
            None,
            "127.0.0.1",
            "bench",
            f"{offset:032x}",
            rng.choice(AUDIT_ACTIONS),
            "customer",
            targets[offset % len(targets)],
            "success",
            "{}",
            start + step * offset,
        )


async def _copy(
    connection: asyncpg.Connection, table: str, columns: tuple[str, ...], rows: Iterator[tuple[Any, ...]]
) -> None:
    for batch in _batches(rows):
        await connection.copy_records_to_table(table, records=batch, columns=list(columns))


async def load(url: str, tenant: Tenant, *, customers: int, invoices: int, audit_events: int, seed: int) -> Tenant:
    """Add rows to `tenant` in one transaction; the invoice counter follows, as the app would leave it.

    Called again, it grows the tenant: new invoices continue the numbering and go to the tenant's
    customers, old and new; audit events name customers as their targets.
    """
    new_customers = [new_id("cus") for _ in range(customers)]
    all_customers = tenant.customer_ids + new_customers
    if invoices and not all_customers:
        msg = "invoices need customers: load some first"
        raise ValueError(msg)
    first_number = tenant.invoices + 1
    invoice_middle: list[str] = []
    audit_middle: list[str] = []
    connection = await asyncpg.connect(url, timeout=10)
    try:
        async with asyncio.timeout(COPY_TIMEOUT_S), connection.transaction():
            await _copy(
                connection, "customers", CUSTOMER_COLUMNS, _customer_rows(tenant.organization_id, new_customers, seed)
            )
            invoice_rows = _invoice_rows(
                tenant.organization_id,
                all_customers,
                _ids("inv", invoices, invoice_middle),
                invoices,
                first_number,
                seed,
            )
            await _copy(connection, "invoices", INVOICE_COLUMNS, invoice_rows)
            audit_rows = _audit_rows(
                tenant.organization_id,
                tenant.actor_id,
                all_customers or [tenant.organization_id],
                _ids("aud", audit_events, audit_middle),
                audit_events,
                seed,
            )
            await _copy(connection, "audit_events", AUDIT_COLUMNS, audit_rows)
            await connection.execute(
                "UPDATE organizations SET invoice_seq = $1 WHERE id = $2",
                tenant.invoices + invoices,
                tenant.organization_id,
            )
    finally:
        await connection.close()
    return replace(
        tenant,
        customer_ids=all_customers,
        invoices=tenant.invoices + invoices,
        audit_events=tenant.audit_events + audit_events,
        invoice_cursor=invoice_middle[0] if invoice_middle else tenant.invoice_cursor,
        audit_cursor=audit_middle[0] if audit_middle else tenant.audit_cursor,
    )
