"""The names the invoices domain publishes: its scopes and the events it emits (docs/webhooks.md)."""

from __future__ import annotations

from shipyard.identity.declarations import Declarations, ScopeDeclaration
from shipyard.models.membership import Role

INVOICES_READ = "invoices:read"
INVOICES_WRITE = "invoices:write"

DECLARED = Declarations(
    scopes=(
        ScopeDeclaration(INVOICES_READ, "Read invoices.", Role.VIEWER),
        ScopeDeclaration(INVOICES_WRITE, "Create, edit, finalize, pay and void invoices.", Role.MEMBER),
    ),
    event_types={
        "invoice.created": "A draft invoice was created.",
        "invoice.finalized": "A draft invoice was finalized: it is open and numbered for good.",
        "invoice.paid": "An open invoice was marked paid.",
        "invoice.voided": "An open invoice was voided.",
    },
)
