"""What the MCP tools return: typed models (structured output) with a short text rendering each."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from shipyard.kit.money import format_minor


class Money(BaseModel):
    """An amount of money: integer minor units, the currency and a formatted string."""

    amount: int = Field(description="Integer minor units (cents for EUR, yen for JPY, fils for KWD).")
    currency: str = Field(description="ISO 4217 code.")
    formatted: str = Field(description="For people: '1,234.56 EUR'.")

    @classmethod
    def of(cls, amount: int, currency: str) -> Money:
        """The amount `amount` (minor units) of `currency`."""
        return cls(amount=amount, currency=currency, formatted=format_minor(amount, currency))


def _amounts(amounts: list[Money]) -> str:
    return ", ".join(money.formatted for money in amounts) or "nothing"


class Answer(BaseModel):
    """A tool result; `summary()` is the text shown by clients that ignore structured output."""

    def summary(self) -> str:
        """A few lines of plain text."""
        raise NotImplementedError


class OrganizationRef(BaseModel):
    """The organisation the answer is about."""

    id: str
    slug: str
    name: str


class InvoiceCounts(BaseModel):
    """How many invoices the organisation has in each status."""

    draft: int = 0
    open: int = 0
    paid: int = 0
    void: int = 0


class OrgOverview(Answer):
    """Counts and amounts outstanding for the caller's organisation."""

    organization: OrganizationRef
    customers: int = Field(description="Active (not archived) customers.")
    members: int
    invoices_by_status: InvoiceCounts
    outstanding: list[Money] = Field(description="Sum of open invoices, one entry per currency.")
    as_of: datetime

    def summary(self) -> str:
        """A few lines of plain text."""
        counts = self.invoices_by_status
        return (
            f"{self.organization.name} ({self.organization.slug}): "
            f"{self.customers} customers, {self.members} members.\n"
            f"Invoices: {counts.draft} draft, {counts.open} open, {counts.paid} paid, {counts.void} void.\n"
            f"Outstanding: {_amounts(self.outstanding)}."
        )


class CustomerSummary(BaseModel):
    """A customer as listed."""

    id: str
    name: str
    email: str
    created_at: datetime


class CustomerSearch(Answer):
    """Customers whose name or email contains the query."""

    query: str
    limit: int = Field(description="The limit applied (at most 100).")
    customers: list[CustomerSummary]
    has_more: bool = Field(description="True when more customers match than were returned.")

    def summary(self) -> str:
        """A few lines of plain text."""
        lines = [
            f"{len(self.customers)} customer(s) matching {self.query!r}{' (more exist)' if self.has_more else ''}:"
        ]
        lines += [f"- {c.name} <{c.email}> ({c.id})" for c in self.customers]
        return "\n".join(lines)


class InvoiceSummary(BaseModel):
    """An invoice as listed."""

    id: str
    number: int
    customer_id: str
    status: Literal["draft", "open", "paid", "void"]
    total: Money
    due_date: date | None
    created_at: datetime
    finalized_at: datetime | None
    paid_at: datetime | None
    voided_at: datetime | None

    def line(self) -> str:
        """One line of text."""
        due = f", due {self.due_date.isoformat()}" if self.due_date else ""
        return f"- #{self.number} {self.status} {self.total.formatted}{due} ({self.id})"


class CustomerDetail(Answer):
    """One customer with its most recent invoices and what it owes."""

    customer: CustomerSummary
    metadata: dict[str, str]
    updated_at: datetime
    outstanding: list[Money] = Field(description="Sum of the customer's open invoices, per currency.")
    recent_invoices: list[InvoiceSummary] = Field(description="The 10 newest invoices, newest first.")

    def summary(self) -> str:
        """A few lines of plain text."""
        lines = [
            f"{self.customer.name} <{self.customer.email}> ({self.customer.id}); owes {_amounts(self.outstanding)}.",
            f"{len(self.recent_invoices)} recent invoice(s):",
        ]
        lines += [invoice.line() for invoice in self.recent_invoices]
        return "\n".join(lines)


class InvoiceList(Answer):
    """Invoices matching the filters, newest first."""

    filters: dict[str, str | None]
    limit: int = Field(description="The limit applied (at most 100).")
    invoices: list[InvoiceSummary]
    has_more: bool

    def summary(self) -> str:
        """A few lines of plain text."""
        lines = [f"{len(self.invoices)} invoice(s){' (more exist)' if self.has_more else ''}:"]
        lines += [invoice.line() for invoice in self.invoices]
        return "\n".join(lines)


class AgingBucket(BaseModel):
    """Open invoices whose age falls in one range of days."""

    bucket: Literal["0-30", "31-60", "61-90", "90+"]
    invoices: int
    amounts: list[Money] = Field(description="One entry per currency.")


class ReceivablesAging(Answer):
    """Outstanding (open) amounts by age."""

    as_of: date
    basis: str = Field(description="How an invoice's age is measured.")
    buckets: list[AgingBucket] = Field(description="Always the four buckets, in order.")
    total_outstanding: list[Money]

    def summary(self) -> str:
        """A few lines of plain text."""
        lines = [f"Receivables aging as of {self.as_of.isoformat()} (days past due):"]
        lines += [f"- {b.bucket} days: {b.invoices} invoice(s), {_amounts(b.amounts)}" for b in self.buckets]
        lines.append(f"Total outstanding: {_amounts(self.total_outstanding)}.")
        return "\n".join(lines)


class AuditEventSummary(BaseModel):
    """One audit event."""

    id: str
    occurred_at: datetime
    action: str
    result: str
    actor_type: str
    actor_id: str | None
    token_id: str | None
    target_type: str | None
    target_id: str | None
    ip: str | None
    request_id: str | None
    details: dict[str, Any]


class AuditEvents(Answer):
    """The organisation's most recent audit events, newest first."""

    action: str | None
    limit: int = Field(description="The limit applied (at most 100).")
    events: list[AuditEventSummary]
    has_more: bool

    def summary(self) -> str:
        """A few lines of plain text."""
        lines = [f"{len(self.events)} audit event(s){' (more exist)' if self.has_more else ''}:"]
        lines += [
            f"- {e.occurred_at.isoformat()} {e.action} {e.result} by {e.actor_type} {e.actor_id or '-'}"
            f" on {e.target_type or '-'} {e.target_id or ''} (request {e.request_id or '-'})"
            for e in self.events
        ]
        return "\n".join(lines)


class ErrorSummary(BaseModel):
    """One recorded server error; its message is scrubbed of credentials and personal data."""

    id: str
    occurred_at: datetime
    request_id: str | None
    method: str | None
    route: str
    status: int
    exception_type: str | None
    message: str
    organization_id: str | None


class RecentErrors(Answer):
    """Recent server errors: the deployment's for an operator, otherwise the organisation's own."""

    scope: Literal["deployment", "organization"]
    limit: int = Field(description="The limit applied (at most 100).")
    errors: list[ErrorSummary]
    has_more: bool

    def summary(self) -> str:
        """A few lines of plain text."""
        lines = [f"{len(self.errors)} recent error(s) in this {self.scope}{' (more exist)' if self.has_more else ''}:"]
        lines += [
            f"- {e.occurred_at.isoformat()} {e.status} {e.method or ''} {e.route} {e.exception_type or ''}:"
            f" {e.message} (request {e.request_id or '-'})"
            for e in self.errors
        ]
        return "\n".join(lines)


class WorkQueue(BaseModel):
    """One queue of the organisation's outgoing work (webhook deliveries or emails)."""

    waiting: int = Field(description="Pending and not held by a worker: due now, or waiting for a retry.")
    retrying: int = Field(description="Of `waiting`, those that already failed at least once.")
    in_flight: int = Field(description="Pending and held by a worker right now (handed to a job or being sent).")
    failed: int = Field(description="Given up on after every retry (kept in the log, counted since ever).")
    oldest_pending_age_s: float | None = Field(
        description="Seconds since the oldest pending item (waiting or in flight) was created; null when none."
    )

    def line(self, name: str) -> str:
        """One line of text."""
        age = f", oldest pending {self.oldest_pending_age_s:.0f} s old" if self.oldest_pending_age_s is not None else ""
        return (
            f"{name}: {self.waiting} waiting ({self.retrying} retrying), {self.in_flight} in flight, "
            f"{self.failed} failed{age}."
        )


class QueueDepth(Answer):
    """The organisation's outbox backlog, webhook delivery and email queues, and its disabled endpoints."""

    outbox_backlog: int = Field(description="Events written but not yet turned into webhook deliveries.")
    webhook_deliveries: WorkQueue
    emails: WorkQueue
    endpoints: int = Field(description="Webhook endpoints of the organisation.")
    disabled_endpoints: int = Field(description="Switched off by hand, by a 410 Gone, or after every retry failed.")
    as_of: datetime

    def summary(self) -> str:
        """A few lines of plain text."""
        return "\n".join(
            [
                f"Outbox backlog: {self.outbox_backlog} event(s) not yet relayed.",
                self.webhook_deliveries.line("Webhook deliveries"),
                self.emails.line("Emails"),
                f"Webhook endpoints: {self.endpoints}, of which {self.disabled_endpoints} disabled.",
            ]
        )


class MemberCounts(Answer):
    """How many members the organisation has in each role."""

    owner: int = 0
    admin: int = 0
    member: int = 0
    viewer: int = 0
    total: int = 0

    def summary(self) -> str:
        """One line of plain text."""
        return (
            f"{self.total} member(s): {self.owner} owner(s), {self.admin} admin(s), {self.member} member(s), "
            f"{self.viewer} viewer(s)."
        )


class InvitationSummary(BaseModel):
    """An invitation not yet accepted or revoked (never its link)."""

    id: str
    email: str
    role: str
    status: Literal["pending", "expired"]
    expires_at: datetime
    created_at: datetime


class PendingInvitations(Answer):
    """The organisation's open invitations, newest first."""

    invitations: list[InvitationSummary]
    has_more: bool

    def summary(self) -> str:
        """A few lines of plain text."""
        lines = [f"{len(self.invitations)} open invitation(s){' (more exist)' if self.has_more else ''}:"]
        lines += [
            f"- {i.email} as {i.role}, {i.status}, expires {i.expires_at.isoformat()} ({i.id})"
            for i in self.invitations
        ]
        return "\n".join(lines)
