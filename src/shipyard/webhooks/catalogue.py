"""The names the webhooks domain publishes: its scopes."""

from __future__ import annotations

from shipyard.identity.declarations import Declarations, ScopeDeclaration
from shipyard.models.membership import Role

WEBHOOKS_READ = "webhooks:read"
WEBHOOKS_WRITE = "webhooks:write"

DECLARED = Declarations(
    scopes=(
        ScopeDeclaration(WEBHOOKS_READ, "Read webhook endpoints, deliveries and events.", Role.MEMBER),
        ScopeDeclaration(WEBHOOKS_WRITE, "Manage webhook endpoints.", Role.ADMIN),
    ),
)
