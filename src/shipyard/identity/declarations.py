"""What a package publishes for the layers below it to know: the scopes tokens can carry, the events it emits.

Each domain declares its own in its `catalogue.py` as a `Declarations`; the composition layer
(`shipyard/domains.py`) collects every package's and installs them: the scopes into
`identity.scopes`, the event types into `events.catalogue` (decision 0055).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shipyard.models.membership import Role


@dataclass(frozen=True, slots=True)
class ScopeDeclaration:
    """A scope: its name, what it allows, and the least role that grants it (every higher role does too)."""

    name: str
    description: str
    granted_from: Role


@dataclass(frozen=True, slots=True)
class Declarations:
    """A package's scopes and event types (each event type with what it means), in the order to publish them."""

    scopes: tuple[ScopeDeclaration, ...] = ()
    event_types: Mapping[str, str] = field(default_factory=dict)
