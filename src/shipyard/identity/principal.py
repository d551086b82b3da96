"""The Principal: who is calling, for which organisation, with which scopes."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from shipyard.models.membership import Role


class ActorType(StrEnum):
    """What kind of caller acted."""

    USER = "user"
    TOKEN = "token"  # noqa: S105 - an actor kind, not a credential
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. Cookie sessions and API tokens both resolve to one of these."""

    organization_id: str
    user_id: str
    role: Role
    scopes: frozenset[str]
    token_id: str | None = None
    session_id: str | None = None

    @property
    def actor_type(self) -> ActorType:
        """Whether a token (an agent, a script) or a person in a browser acted."""
        return ActorType.TOKEN if self.token_id else ActorType.USER

    @property
    def idempotency_key(self) -> str:
        """The scope an Idempotency-Key belongs to: this caller in this organisation."""
        return f"{self.organization_id}:{self.token_id or self.user_id}"

    def has_scope(self, scope: str) -> bool:
        """True when the principal holds `scope`."""
        return scope in self.scopes
