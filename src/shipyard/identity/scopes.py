"""Scopes a token can carry, and the scopes each role may grant."""

from __future__ import annotations

from enum import StrEnum

from shipyard.models.membership import Role


class Scope(StrEnum):
    """A permission a token can carry."""

    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"
    INVOICES_READ = "invoices:read"
    INVOICES_WRITE = "invoices:write"
    TOKENS_WRITE = "tokens:write"
    AUDIT_READ = "audit:read"
    WEBHOOKS_READ = "webhooks:read"
    WEBHOOKS_WRITE = "webhooks:write"
    MCP_READ = "mcp:read"
    ERRORS_READ = "errors:read"
    MEMBERS_READ = "members:read"
    MEMBERS_WRITE = "members:write"


SCOPES: dict[str, str] = {
    Scope.CUSTOMERS_READ: "Read customers.",
    Scope.CUSTOMERS_WRITE: "Create, update and archive customers.",
    Scope.INVOICES_READ: "Read invoices.",
    Scope.INVOICES_WRITE: "Create, edit, finalize, pay and void invoices.",
    Scope.TOKENS_WRITE: "List, create and revoke API tokens.",
    Scope.AUDIT_READ: "Read the organisation's audit log.",
    Scope.WEBHOOKS_READ: "Read webhook endpoints, deliveries and events.",
    Scope.WEBHOOKS_WRITE: "Manage webhook endpoints.",
    Scope.MCP_READ: "Query the read-only MCP server.",
    Scope.ERRORS_READ: "Read recent server errors (an operator's token: the whole deployment's).",
    Scope.MEMBERS_READ: "Read the organisation's members.",
    Scope.MEMBERS_WRITE: "Change members' roles, remove members, and manage invitations.",
}

_READ = frozenset({"customers:read", "invoices:read", "mcp:read", "members:read"})
_WRITE = _READ | {"customers:write", "invoices:write", "webhooks:read"}
_ADMIN = _WRITE | {"tokens:write", "audit:read", "webhooks:write", "errors:read", "members:write"}

# A role is a ceiling: sessions get exactly these, tokens at most these. Owners hold what admins do;
# what only an owner may do (owners' roles, billing) is a rule of the service, not a scope.
ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.VIEWER: _READ,
    Role.MEMBER: frozenset(_WRITE),
    Role.ADMIN: frozenset(_ADMIN),
    Role.OWNER: frozenset(_ADMIN),
}


def unknown_scopes(scopes: list[str] | set[str] | frozenset[str]) -> list[str]:
    """Scopes that Shipyard does not define, sorted."""
    return sorted(set(scopes) - SCOPES.keys())
