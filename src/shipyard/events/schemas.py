"""Response models for events."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class EventRead(BaseModel):
    """An event: its type, when it happened, and a snapshot of the object as it was then."""

    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="Also the `webhook-id` of every delivery of this event.")
    object: Literal["event"] = "event"
    type: str
    created_at: datetime
    request_id: str | None = Field(description="The request that caused the event.")
    data: dict[str, Any] = Field(validation_alias="payload")
