"""Keeping the invoice totals in step with the invoices, and reading them.

Every invoice write path calls one of `record_added`, `record_changed` or `record_removed` in its
own transaction, so the totals commit exactly when the invoice does (decisions/0058). An invoice
contributes one to its status's row and, while open, one to the row of the day it ages from; a
change takes the old contribution away and adds the new one.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import inspect

from shipyard.invoice_totals import repository
from shipyard.invoice_totals.repository import AGING_BUCKETS
from shipyard.kit.ids import ID_ALPHABET
from shipyard.models import TOTALS_SHARDS, Invoice, InvoiceRow, InvoiceStatus, InvoiceTotal, OpenInvoiceAging

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "AGING_BUCKETS",
    "Share",
    "aging",
    "open_amounts",
    "organization_ids",
    "rebuild",
    "record_added",
    "record_changed",
    "record_removed",
    "share_of",
    "status_counts",
]
_FIELDS = ("organization_id", "status", "currency", "total", "due_date", "finalized_at", "created_at")


def shard_of(invoice_id: str) -> int:
    """Which of the key's rows an invoice counts in: spreads one organisation's writers over row locks.

    Derived from the ID (its last character, random in a ULID), so an invoice always leaves the
    shard it entered, and every row's count stays the number of invoices it holds.
    """
    return ID_ALPHABET.index(invoice_id[-1]) % TOTALS_SHARDS


def aged_from(due_date: date | None, finalized_at: datetime | None, created_at: datetime) -> date:
    """The day an open invoice ages from: its due date, else the UTC day it was finalized (or created)."""
    if due_date is not None:
        return due_date
    issued = finalized_at or created_at
    return issued.astimezone(UTC).date()


@dataclass(frozen=True, slots=True)
class Share:
    """What one invoice contributes to the totals."""

    organization_id: str
    status: str
    currency: str
    shard: int
    amount: int
    aged_from: date | None  # only for an open invoice

    def rows(self) -> list[tuple[repository.TotalsTable, tuple[Any, ...]]]:
        """The keys of the rows this invoice counts in."""
        keys: list[tuple[repository.TotalsTable, tuple[Any, ...]]] = [
            (InvoiceTotal, (self.organization_id, self.status, self.currency, self.shard))
        ]
        if self.aged_from is not None:
            keys.append((OpenInvoiceAging, (self.organization_id, self.currency, self.aged_from, self.shard)))
        return keys


def _share(invoice_id: str, values: dict[str, Any]) -> Share:
    is_open = values["status"] == InvoiceStatus.OPEN
    return Share(
        organization_id=values["organization_id"],
        status=str(values["status"]),
        currency=values["currency"],
        shard=shard_of(invoice_id),
        amount=int(values["total"]),
        aged_from=aged_from(values["due_date"], values["finalized_at"], values["created_at"]) if is_open else None,
    )


def share_of(invoice: Invoice | InvoiceRow) -> Share:
    """The invoice's contribution as it stands now."""
    return _share(invoice.id, {name: getattr(invoice, name) for name in _FIELDS})


def _share_before(invoice: Invoice) -> Share:
    """The invoice's contribution before its unflushed changes, read from the ORM's attribute history."""
    state = inspect(invoice)
    values: dict[str, Any] = {}
    for name in _FIELDS:
        history = state.attrs[name].history
        values[name] = history.deleted[0] if history.deleted else getattr(invoice, name)
    return _share(invoice.id, values)


async def _apply(session: AsyncSession, before: Share | None, after: Share | None) -> None:
    deltas: dict[tuple[repository.TotalsTable, tuple[Any, ...]], list[int]] = defaultdict(lambda: [0, 0])
    for share, sign in ((before, -1), (after, 1)):
        if share is not None:
            for row in share.rows():
                deltas[row][0] += sign
                deltas[row][1] += sign * share.amount
    # One order for every writer (tables, then keys): two transactions never wait for each other's rows in a cycle.
    ordered = sorted(deltas.items(), key=lambda item: (item[0][0].__tablename__, item[0][1]))
    for (table, key), (count, amount) in ordered:
        if count or amount:
            await repository.add(session, table, dict(zip(repository.KEYS[table], key, strict=True)), count, amount)


async def record_added(session: AsyncSession, invoice: Invoice | InvoiceRow) -> None:
    """Count a new invoice; it needs its ID and creation time, not its number."""
    await _apply(session, None, share_of(invoice))


async def record_changed(session: AsyncSession, invoice: Invoice) -> None:
    """Move an edited or transitioned invoice's contribution; call after changing it and before the flush."""
    await _apply(session, _share_before(invoice), share_of(invoice))


async def record_removed(session: AsyncSession, invoice: Invoice) -> None:
    """Take a deleted invoice's contribution away."""
    await _apply(session, share_of(invoice), None)


async def status_counts(session: AsyncSession, organization_id: str) -> dict[str, int]:
    """Number of invoices per status (statuses without invoices are absent)."""
    return await repository.status_counts(session, organization_id)


async def open_amounts(session: AsyncSession, organization_id: str) -> list[tuple[str, int]]:
    """(currency, amount outstanding on open invoices), sorted by currency."""
    return await repository.open_amounts(session, organization_id)


async def aging(session: AsyncSession, organization_id: str, today: date) -> list[tuple[str, str, int, int]]:
    """(bucket, currency, open amount, invoice count) for the organisation's open invoices."""
    return await repository.aging(session, organization_id, today)


async def rebuild(session: AsyncSession, organization_id: str) -> None:
    """Recompute the organisation's totals from its invoices (after a bulk load that bypassed the services)."""
    await repository.rebuild(session, organization_id)


async def organization_ids(session: AsyncSession) -> list[str]:
    """Every organisation's ID, in order: what a rebuild of every organisation walks."""
    return await repository.organization_ids(session)
