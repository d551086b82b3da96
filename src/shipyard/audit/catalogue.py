"""The names the audit log publishes: the scope that reads it."""

from __future__ import annotations

from shipyard.identity.declarations import Declarations, ScopeDeclaration
from shipyard.models.membership import Role

AUDIT_READ = "audit:read"

DECLARED = Declarations(
    scopes=(ScopeDeclaration(AUDIT_READ, "Read the organisation's audit log.", Role.ADMIN),),
)
