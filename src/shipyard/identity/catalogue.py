"""The names identity publishes: the scope that manages API tokens."""

from __future__ import annotations

from shipyard.identity.declarations import Declarations, ScopeDeclaration
from shipyard.models.membership import Role

TOKENS_WRITE = "tokens:write"

DECLARED = Declarations(
    scopes=(ScopeDeclaration(TOKENS_WRITE, "List, create and revoke API tokens.", Role.ADMIN),),
)
