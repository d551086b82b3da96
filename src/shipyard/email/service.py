"""Queuing email in the caller's transaction; a job sends each message after commit. Services never commit."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit import service as audit
from shipyard.email import repository
from shipyard.email.messages import Draft, endpoint_disabled_email, invitation_email, invoice_email
from shipyard.identity.principal import Principal
from shipyard.kit.context import current_request_id
from shipyard.kit.ids import new_id
from shipyard.kit.problems import InvalidStateTransitionError
from shipyard.models import Customer, EmailMessage, Invoice, InvoiceStatus
from shipyard.worker import dispatch

REMINDER_BATCH = 200


async def queue(
    session: AsyncSession, draft: Draft, *, organization_id: str | None, dedupe_key: str | None = None
) -> EmailMessage | None:
    """Queue `draft` for sending once the transaction commits; None if `dedupe_key` was queued before."""
    message = EmailMessage(
        id=new_id("eml"),
        organization_id=organization_id,
        kind=draft.kind,
        dedupe_key=dedupe_key,
        to_address=draft.to,
        subject=draft.subject,
        text_body=draft.text,
        html_body=draft.html,
        request_id=current_request_id(),
    )
    if not await repository.add_unless_duplicate(session, message):
        return None
    dispatch.wake_after_commit(session)
    return message


async def queue_invitation(
    session: AsyncSession,
    *,
    organization_id: str,
    to: str,
    organization: str,
    inviter: str,
    role: str,
    link: str,
    expires: datetime,
) -> EmailMessage | None:
    """Queue the invitation email with its one-time link (members/invitation_service.py)."""
    draft = invitation_email(to=to, organization=organization, inviter=inviter, role=role, link=link, expires=expires)
    return await queue(session, draft, organization_id=organization_id)


async def send_invoice(
    session: AsyncSession, principal: Principal, invoice: Invoice, customer: Customer
) -> EmailMessage:
    """Email an open (or paid) invoice to its customer; a draft or a void invoice is a 409."""
    if invoice.status not in {InvoiceStatus.OPEN, InvoiceStatus.PAID}:
        raise InvalidStateTransitionError("invoice", invoice.status, "send")
    message = await queue(session, invoice_email(invoice, customer), organization_id=principal.organization_id)
    if message is None:  # pragma: no cover - only reminders carry a dedupe key
        msg = "an invoice email has no dedupe key"
        raise AssertionError(msg)
    audit.record(
        session,
        principal,
        "invoice.sent",
        target_type="invoice",
        target_id=invoice.id,
        details={"email_id": message.id, "to": customer.email},
    )
    return message


async def queue_reminder_batch(session: AsyncSession, today: date, after_id: str | None) -> tuple[int, str | None]:
    """Queue reminders for the next batch of overdue open invoices after `after_id`.

    Returns how many were queued and where the next batch starts (None when this was the last). The
    caller commits each batch, so a large backlog never holds one long transaction and its locks.
    A second run the same day queues none: each reminder carries a per-invoice, per-day dedupe key.
    """
    queued = 0
    rows = await repository.overdue_invoices(session, today, limit=REMINDER_BATCH, after_id=after_id)
    for invoice, customer in rows:
        draft = invoice_email(invoice, customer, reminder=True)
        key = f"reminder:{invoice.id}:{today.isoformat()}"
        if await queue(session, draft, organization_id=invoice.organization_id, dedupe_key=key):
            queued += 1
    return queued, (rows[-1][0].id if len(rows) == REMINDER_BATCH else None)


async def notify_endpoint_disabled(session: AsyncSession, organization_id: str, url: str, reason: str) -> int:
    """Tell every owner of the organisation that a webhook endpoint was disabled."""
    addresses = await repository.owner_addresses(session, organization_id)
    for address in addresses:
        await queue(session, endpoint_disabled_email(address, url, reason), organization_id=organization_id)
    return len(addresses)
