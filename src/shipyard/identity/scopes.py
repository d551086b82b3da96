"""Scopes a token can carry, and the scopes each role may grant.

Identity owns the mechanism, not the list: each package declares its own scopes in its `catalogue.py`
(identity too), and the composition layer (`shipyard/domains.py`) installs them all here once, at
import (decision 0055), so identity imports no domain. `SCOPES` and `ROLE_SCOPES` are filled in place, so a
module that imported them before the installation still sees every scope.
"""

from __future__ import annotations

from collections.abc import Iterable

from shipyard.identity.declarations import ScopeDeclaration
from shipyard.models.membership import Role

# Each role holds what the roles before it hold. Owners hold what admins do; what only an owner may do
# (owners' roles, billing) is a rule of the service, not a scope.
_ROLES_FROM_LEAST = (Role.VIEWER, Role.MEMBER, Role.ADMIN, Role.OWNER)

# Every scope with its description, in the order the composition layer lists the declarations.
SCOPES: dict[str, str] = {}
# A role is a ceiling: sessions get exactly these, tokens at most these.
ROLE_SCOPES: dict[Role, frozenset[str]] = {}


def install(declarations: Iterable[ScopeDeclaration]) -> None:
    """Make `declarations` the scopes Shipyard knows; called by the composition layer, once per process."""
    declared = list(declarations)
    names = [declaration.name for declaration in declared]
    if duplicated := sorted({name for name in names if names.count(name) > 1}):
        msg = f"scopes declared twice: {', '.join(duplicated)}"
        raise ValueError(msg)
    SCOPES.clear()
    SCOPES.update({declaration.name: declaration.description for declaration in declared})
    ROLE_SCOPES.clear()
    for rank, role in enumerate(_ROLES_FROM_LEAST):
        grantors = set(_ROLES_FROM_LEAST[: rank + 1])
        ROLE_SCOPES[role] = frozenset(d.name for d in declared if d.granted_from in grantors)


def unknown_scopes(scopes: list[str] | set[str] | frozenset[str]) -> list[str]:
    """Scopes that Shipyard does not define, sorted."""
    return sorted(set(scopes) - SCOPES.keys())
