"""SQLAlchemy models, one module per table. Importing this package registers every table."""

from shipyard.kit.idempotency_key import IdempotencyKey
from shipyard.models.api_token import ApiToken
from shipyard.models.audit_event import AuditEvent
from shipyard.models.auth_session import AuthSession, AuthSessionToken, LoginAttempt
from shipyard.models.base import Base
from shipyard.models.customer import Customer, CustomerRow
from shipyard.models.email_message import EmailMessage
from shipyard.models.error_report import ErrorReport
from shipyard.models.event import Event
from shipyard.models.invitation import Invitation, InvitationStatus
from shipyard.models.invoice import Invoice, InvoiceRow, InvoiceStatus
from shipyard.models.invoice_totals import TOTALS_SHARDS, InvoiceTotal, OpenInvoiceAging
from shipyard.models.job_lease import JobLease, JobRun
from shipyard.models.leased import WorkStatus
from shipyard.models.membership import Membership, Role
from shipyard.models.organization import Organization
from shipyard.models.user import User
from shipyard.models.user_identity import UserIdentity
from shipyard.models.webhook_delivery import WebhookAttempt, WebhookDelivery
from shipyard.models.webhook_endpoint import WebhookEndpoint

__all__ = [
    "TOTALS_SHARDS",
    "ApiToken",
    "AuditEvent",
    "AuthSession",
    "AuthSessionToken",
    "Base",
    "Customer",
    "CustomerRow",
    "EmailMessage",
    "ErrorReport",
    "Event",
    "IdempotencyKey",
    "Invitation",
    "InvitationStatus",
    "Invoice",
    "InvoiceRow",
    "InvoiceStatus",
    "InvoiceTotal",
    "JobLease",
    "JobRun",
    "LoginAttempt",
    "Membership",
    "OpenInvoiceAging",
    "Organization",
    "Role",
    "User",
    "UserIdentity",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WorkStatus",
]
