"""Response models for the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class AuditEventRead(BaseModel):
    """One audit event."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    object: Literal["audit_event"] = "audit_event"
    occurred_at: datetime
    action: str
    result: str
    actor_type: str
    actor_id: str | None
    token_id: str | None
    target_type: str | None
    target_id: str | None
    ip: str | None
    user_agent: str | None
    request_id: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Optional filters for listing audit events."""

    action: str | None = None
    actor_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    occurred_after: datetime | None = None
    occurred_before: datetime | None = None
