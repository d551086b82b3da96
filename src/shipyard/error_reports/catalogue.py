"""The names error reports publish: the scope that reads them."""

from __future__ import annotations

from shipyard.identity.declarations import Declarations, ScopeDeclaration
from shipyard.models.membership import Role

ERRORS_READ = "errors:read"

DECLARED = Declarations(
    scopes=(
        ScopeDeclaration(
            ERRORS_READ, "Read recent server errors (an operator's token: the whole deployment's).", Role.ADMIN
        ),
    ),
)
