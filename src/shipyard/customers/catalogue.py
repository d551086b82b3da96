"""The names the customers domain publishes: its scopes and the events it emits (docs/webhooks.md)."""

from __future__ import annotations

from shipyard.identity.declarations import Declarations, ScopeDeclaration
from shipyard.models.membership import Role

CUSTOMERS_READ = "customers:read"
CUSTOMERS_WRITE = "customers:write"

DECLARED = Declarations(
    scopes=(
        ScopeDeclaration(CUSTOMERS_READ, "Read customers.", Role.VIEWER),
        ScopeDeclaration(CUSTOMERS_WRITE, "Create, update and archive customers.", Role.MEMBER),
    ),
    event_types={
        "customer.created": "A customer was created.",
        "customer.updated": "A customer's name, email or metadata changed.",
        "customer.archived": "A customer was archived.",
    },
)
