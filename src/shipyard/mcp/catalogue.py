"""The names the MCP server publishes: the scope that queries it."""

from __future__ import annotations

from shipyard.identity.declarations import Declarations, ScopeDeclaration
from shipyard.models.membership import Role

MCP_READ = "mcp:read"

DECLARED = Declarations(
    scopes=(ScopeDeclaration(MCP_READ, "Query the read-only MCP server.", Role.VIEWER),),
)
