"""What each MCP tool answers, built from the domain services and the MCP repository. Read-only."""

from __future__ import annotations

from datetime import date, datetime

from mcp.server.mcpserver.exceptions import ToolError
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.audit import service as audit_service
from shipyard.audit.schemas import AuditFilter
from shipyard.customers import service as customer_service
from shipyard.error_reports import service as error_service
from shipyard.identity import repository as identity_repository
from shipyard.identity.principal import Principal
from shipyard.invoice_totals import service as invoice_totals
from shipyard.mcp import repository
from shipyard.mcp.schemas import (
    AgingBucket,
    AuditEvents,
    AuditEventSummary,
    CustomerDetail,
    CustomerSearch,
    CustomerSummary,
    ErrorSummary,
    InvitationSummary,
    InvoiceCounts,
    InvoiceList,
    InvoiceSummary,
    MemberCounts,
    Money,
    OrganizationRef,
    OrgOverview,
    PendingInvitations,
    QueueDepth,
    ReceivablesAging,
    RecentErrors,
    WorkQueue,
)
from shipyard.members import invitation_service
from shipyard.members import service as members_service
from shipyard.models import Customer, EmailMessage, Invoice, WebhookDelivery
from shipyard.models.base import utcnow

RECENT_INVOICES = 10
AGING_BASIS = (
    "Open invoices only, aged in whole days past their due date (not yet due counts as 0); an invoice "
    "without a due date is aged from the day it was finalized. Dates are UTC."
)


def _money(pairs: list[tuple[str, int]]) -> list[Money]:
    return [Money.of(amount, currency) for currency, amount in pairs]


def _customer(customer: Customer) -> CustomerSummary:
    return CustomerSummary(id=customer.id, name=customer.name, email=customer.email, created_at=customer.created_at)


def _invoice(invoice: Invoice) -> InvoiceSummary:
    return InvoiceSummary(
        id=invoice.id,
        number=invoice.number,
        customer_id=invoice.customer_id,
        status=invoice.status,
        total=Money.of(invoice.total, invoice.currency),
        due_date=invoice.due_date,
        created_at=invoice.created_at,
        finalized_at=invoice.finalized_at,
        paid_at=invoice.paid_at,
        voided_at=invoice.voided_at,
    )


async def org_overview(session: AsyncSession, principal: Principal) -> OrgOverview:
    """Counts of customers, members and invoices by status, and open amounts by currency."""
    organization_id = principal.organization_id
    organization = await identity_repository.get_organization(session, organization_id)
    if organization is None:
        raise ToolError("The organisation no longer exists.")
    return OrgOverview(
        organization=OrganizationRef(id=organization.id, slug=organization.slug, name=organization.name),
        customers=await repository.count_active_customers(session, organization_id),
        members=await repository.count_members(session, organization_id),
        invoices_by_status=InvoiceCounts(**await invoice_totals.status_counts(session, organization_id)),
        outstanding=_money(await invoice_totals.open_amounts(session, organization_id)),
        as_of=utcnow(),
    )


async def search_customers(session: AsyncSession, principal: Principal, query: str, limit: int) -> CustomerSearch:
    """Active customers whose name or email contains `query`."""
    rows = await repository.search_customers(session, principal.organization_id, query, limit)
    return CustomerSearch(
        query=query, limit=limit, customers=[_customer(c) for c in rows[:limit]], has_more=len(rows) > limit
    )


async def get_customer(session: AsyncSession, principal: Principal, customer_id: str) -> CustomerDetail:
    """One customer of the organisation with its recent invoices; another organisation's is 'not found'."""
    customer = await customer_service.get(session, principal, customer_id)
    if customer is None:
        raise ToolError(f"No customer with id '{customer_id}' in this organisation.")
    invoices = await repository.list_invoices(
        session, principal.organization_id, status=None, customer_id=customer.id, due_before=None, limit=RECENT_INVOICES
    )
    return CustomerDetail(
        customer=_customer(customer),
        metadata={str(k): str(v) for k, v in (customer.metadata_ or {}).items()},
        updated_at=customer.updated_at,
        outstanding=_money(await repository.customer_outstanding(session, principal.organization_id, customer.id)),
        recent_invoices=[_invoice(i) for i in invoices[:RECENT_INVOICES]],
    )


async def list_invoices(
    session: AsyncSession,
    principal: Principal,
    *,
    status: str | None,
    customer_id: str | None,
    due_before: date | None,
    limit: int,
) -> InvoiceList:
    """The organisation's invoices matching the filters, newest first."""
    rows = await repository.list_invoices(
        session, principal.organization_id, status=status, customer_id=customer_id, due_before=due_before, limit=limit
    )
    filters = {
        "status": status,
        "customer_id": customer_id,
        "due_before": due_before.isoformat() if due_before else None,
    }
    return InvoiceList(
        filters=filters, limit=limit, invoices=[_invoice(i) for i in rows[:limit]], has_more=len(rows) > limit
    )


async def receivables_aging(session: AsyncSession, principal: Principal, today: date) -> ReceivablesAging:
    """Open amounts in the 0-30, 31-60, 61-90 and 90+ day buckets, per currency."""
    rows = await invoice_totals.aging(session, principal.organization_id, today)
    buckets: list[AgingBucket] = []
    totals: dict[str, int] = {}
    for name in invoice_totals.AGING_BUCKETS:
        mine = sorted((currency, total, count) for bucket, currency, total, count in rows if bucket == name)
        for currency, total, _count in mine:
            totals[currency] = totals.get(currency, 0) + total
        buckets.append(
            AgingBucket(
                bucket=name,
                invoices=sum(count for _currency, _total, count in mine),
                amounts=[Money.of(total, currency) for currency, total, _count in mine],
            )
        )
    return ReceivablesAging(
        as_of=today, basis=AGING_BASIS, buckets=buckets, total_outstanding=_money(sorted(totals.items()))
    )


async def recent_audit_events(
    session: AsyncSession, principal: Principal, action: str | None, limit: int, operator_slug: str | None = None
) -> AuditEvents:
    """The organisation's newest audit events, optionally of one action (an operator's: with failed sign-ins)."""
    events = await audit_service.list_events(
        session, principal, AuditFilter(action=action), limit=limit, after_id=None, operator_slug=operator_slug
    )
    return AuditEvents(
        action=action,
        limit=limit,
        events=[AuditEventSummary.model_validate(e, from_attributes=True) for e in events[:limit]],
        has_more=len(events) > limit,
    )


async def recent_errors(
    session: AsyncSession, principal: Principal, operator_slug: str | None, limit: int
) -> RecentErrors:
    """The deployment's newest server errors for an operator; the organisation's own otherwise."""
    visible = await error_service.list_visible(
        session, principal, operator_slug=operator_slug, limit=limit, after_id=None
    )
    return RecentErrors(
        scope="deployment" if visible.deployment_wide else "organization",
        limit=limit,
        errors=[ErrorSummary.model_validate(r, from_attributes=True) for r in visible.reports[:limit]],
        has_more=len(visible.reports) > limit,
    )


def _work_queue(counts: repository.QueueCounts, now: datetime) -> WorkQueue:
    oldest = counts.oldest_pending_created_at
    return WorkQueue(
        waiting=counts.waiting,
        retrying=counts.retrying,
        in_flight=counts.in_flight,
        failed=counts.failed,
        oldest_pending_age_s=None if oldest is None else round(max(0.0, (now - oldest).total_seconds()), 3),
    )


async def queue_depth(session: AsyncSession, principal: Principal, now: datetime) -> QueueDepth:
    """The organisation's outbox backlog, delivery and email queues, and disabled endpoints."""
    organization_id = principal.organization_id
    deliveries = await repository.queue_counts(session, WebhookDelivery, organization_id, now)
    emails = await repository.queue_counts(session, EmailMessage, organization_id, now)
    endpoints, disabled = await repository.endpoint_counts(session, organization_id)
    return QueueDepth(
        outbox_backlog=await repository.outbox_backlog(session, organization_id),
        webhook_deliveries=_work_queue(deliveries, now),
        emails=_work_queue(emails, now),
        endpoints=endpoints,
        disabled_endpoints=disabled,
        as_of=now,
    )


async def member_counts_by_role(session: AsyncSession, principal: Principal) -> MemberCounts:
    """How many members hold each role in the caller's organisation."""
    counts = await members_service.counts_by_role(session, principal.organization_id)
    return MemberCounts(**counts, total=sum(counts.values()))


async def pending_invitations(
    session: AsyncSession, principal: Principal, limit: int, now: datetime
) -> PendingInvitations:
    """The newest open invitations of the caller's organisation."""
    rows = await members_service.pending_invitations(session, principal.organization_id, limit)
    summaries = [
        InvitationSummary(
            id=row.id,
            email=row.email,
            role=row.role,
            status="expired" if invitation_service.status_of(row, now) == "expired" else "pending",
            expires_at=row.expires_at,
            created_at=row.created_at,
        )
        for row in rows[:limit]
    ]
    return PendingInvitations(invitations=summaries, has_more=len(rows) > limit)
