"""Business rules for invoices: totals, numbering and the lifecycle. Services never commit."""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit import service as audit
from shipyard.events import service as events
from shipyard.identity.principal import Principal
from shipyard.invoice_totals import service as invoice_totals
from shipyard.invoices import repository
from shipyard.invoices.schemas import InvoiceCreate, InvoiceFilter, InvoiceRead, InvoiceUpdate, LineItemIn
from shipyard.kit import final_write
from shipyard.kit.ids import new_id
from shipyard.kit.problems import InvalidStateTransitionError
from shipyard.models import Customer, CustomerRow, Invoice, InvoiceRow, InvoiceStatus
from shipyard.models.base import utcnow

TARGET = "invoice"
PLACEHOLDER_FLOOR = 10**17


def event_snapshot(invoice: Invoice | InvoiceRow) -> dict[str, Any]:
    """The invoice as the API shows it, frozen into its event."""
    return InvoiceRead.model_validate(invoice).model_dump(mode="json")


# action -> (statuses it may start from, status it leads to, timestamp it sets)
_TRANSITIONS: dict[str, tuple[frozenset[InvoiceStatus], InvoiceStatus, str]] = {
    "finalize": (frozenset({InvoiceStatus.DRAFT}), InvoiceStatus.OPEN, "finalized_at"),
    "pay": (frozenset({InvoiceStatus.OPEN}), InvoiceStatus.PAID, "paid_at"),
    "void": (frozenset({InvoiceStatus.OPEN}), InvoiceStatus.VOID, "voided_at"),
}
_PAST_TENSE = {"finalize": "finalized", "pay": "paid", "void": "voided"}


def _priced(items: list[LineItemIn]) -> tuple[list[dict[str, Any]], int]:
    lines = [{**item.model_dump(), "amount": item.quantity * item.unit_amount} for item in items]
    return lines, sum(line["amount"] for line in lines)


async def get(session: AsyncSession, principal: Principal, customer_id: str, invoice_id: str) -> Invoice | None:
    """The organisation's invoice under this customer, or None."""
    return await repository.get(session, principal.organization_id, customer_id, invoice_id)


async def read(session: AsyncSession, principal: Principal, customer_id: str, invoice_id: str) -> InvoiceRow | None:
    """The invoice as a read-only answer shows it (`get` for one to change), or None."""
    return await repository.get_row(session, principal.organization_id, customer_id, invoice_id)


async def list_page(
    session: AsyncSession, principal: Principal, filters: InvoiceFilter, *, limit: int, after_id: str | None
) -> Sequence[Mapping[str, Any]]:
    """A page of the organisation's invoices, as rows keyed by `InvoiceRead`'s field names."""
    return await repository.list_page(session, principal.organization_id, filters, limit=limit, after_id=after_id)


async def create(
    session: AsyncSession, principal: Principal, customer: Customer | CustomerRow, data: InvoiceCreate
) -> InvoiceRow:
    """Create a draft invoice with the organisation's next number, for a request's response.

    Everything is prepared here; the number is taken in the one statement that inserts the invoice
    with its audit and outbox events (repository.insert_numbered), which the unit of work runs as
    the request's last statement before the commit, so the organisation's row lock is held for that
    statement and the commit only (docs/decisions/0056, 0065). The returned invoice carries a
    placeholder number that the unit of work replaces in the response body.
    """
    lines, total = _priced(data.line_items)
    now = utcnow()
    invoice = InvoiceRow(
        id=new_id("inv"),
        organization_id=principal.organization_id,
        customer_id=customer.id,
        number=0,  # taken with the insert
        status=InvoiceStatus.DRAFT,
        currency=str(data.currency),
        line_items=lines,
        total=total,
        due_date=data.due_date,
        memo=data.memo,
        finalized_at=None,
        paid_at=None,
        voided_at=None,
        version=1,
        created_at=now,
        updated_at=now,
    )
    # Counted before the number is taken, so the organisation's lock never waits on the totals.
    await invoice_totals.record_added(session, invoice)
    audit_event = audit.row_values(
        principal,
        "invoice.created",
        target_type=TARGET,
        target_id=invoice.id,
        details={"total": total, "currency": invoice.currency},  # and the number
    )
    outbox_event = events.outbox_row(session, principal, "invoice.created", event_snapshot(invoice))
    # The number is taken by the request's last statement, once the response is built; the response
    # carries a placeholder until then (kit/final_write.py, docs/decisions/0065).
    placeholder = _placeholder_number()
    numbering = repository.NumberedInsert(invoice._asdict(), audit_event, outbox_event, str(placeholder).encode())
    final_write.defer(session, numbering)
    return invoice._replace(number=placeholder)


def _placeholder_number() -> int:
    """18 random digits: no total (below 2**53, 16 digits) or other input can hold them by chance or design."""
    return PLACEHOLDER_FLOOR + secrets.randbelow(9 * PLACEHOLDER_FLOOR)


def _require_draft(invoice: Invoice, action: str) -> None:
    if invoice.status != InvoiceStatus.DRAFT:
        raise InvalidStateTransitionError("invoice", invoice.status, action)


async def update(session: AsyncSession, principal: Principal, invoice: Invoice, data: InvoiceUpdate) -> Invoice:
    """Edit a draft; any other status is a 409."""
    _require_draft(invoice, "edit")
    # `due_date` is the one nullable field: an explicit null clears it. Null elsewhere changes nothing.
    changes = set(data.model_dump(exclude_unset=True, exclude_none=True)) | (data.model_fields_set & {"due_date"})
    if data.line_items is not None:
        invoice.line_items, invoice.total = _priced(data.line_items)
    if data.currency is not None:
        invoice.currency = str(data.currency)
    if "due_date" in changes:
        invoice.due_date = data.due_date
    if data.memo is not None:
        invoice.memo = data.memo
    await invoice_totals.record_changed(session, invoice)
    if changes:
        await session.flush()
        audit.record(
            session,
            principal,
            "invoice.updated",
            target_type=TARGET,
            target_id=invoice.id,
            details={"fields": sorted(changes)},
        )
    return invoice


async def delete_draft(session: AsyncSession, principal: Principal, invoice: Invoice) -> None:
    """Delete a draft; its number is not reused."""
    _require_draft(invoice, "delete")
    await invoice_totals.record_removed(session, invoice)
    await repository.remove(session, invoice)
    await session.flush()
    audit.record(session, principal, "invoice.deleted", target_type=TARGET, target_id=invoice.id)


async def transition(session: AsyncSession, principal: Principal, invoice: Invoice, action: str) -> Invoice:
    """Apply a lifecycle action (`finalize`, `pay`, `void`); an illegal one is 409 `invalid_state_transition`."""
    sources, target, stamp = _TRANSITIONS[action]
    if invoice.status not in sources:
        raise InvalidStateTransitionError("invoice", invoice.status, action)
    invoice.status = target
    setattr(invoice, stamp, utcnow())
    await invoice_totals.record_changed(session, invoice)
    await session.flush()
    audit.record(session, principal, f"invoice.{_PAST_TENSE[action]}", target_type=TARGET, target_id=invoice.id)
    await events.emit(session, principal, f"invoice.{_PAST_TENSE[action]}", event_snapshot(invoice))
    return invoice
