"""The names the members domain publishes: its scopes."""

from __future__ import annotations

from shipyard.identity.declarations import Declarations, ScopeDeclaration
from shipyard.models.membership import Role

MEMBERS_READ = "members:read"
MEMBERS_WRITE = "members:write"

DECLARED = Declarations(
    scopes=(
        ScopeDeclaration(MEMBERS_READ, "Read the organisation's members.", Role.VIEWER),
        ScopeDeclaration(MEMBERS_WRITE, "Change members' roles, remove members, and manage invitations.", Role.ADMIN),
    ),
)
