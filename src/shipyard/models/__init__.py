"""SQLAlchemy models, one module per table. Importing this package registers every table."""

from shipyard.models.api_token import ApiToken
from shipyard.models.audit_event import AuditEvent
from shipyard.models.base import Base
from shipyard.models.customer import Customer
from shipyard.models.idempotency_key import IdempotencyKey
from shipyard.models.invoice import Invoice, InvoiceStatus
from shipyard.models.membership import Membership, Role
from shipyard.models.organization import Organization
from shipyard.models.user import User

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Base",
    "Customer",
    "IdempotencyKey",
    "Invoice",
    "InvoiceStatus",
    "Membership",
    "Organization",
    "Role",
    "User",
]
