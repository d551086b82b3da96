"""Response models for the audit log."""

from __future__ import annotations

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
