"""Response models for email."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class EmailQueued(BaseModel):
    """An email accepted for sending; a job sends it (and retries) after the request commits."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    object: Literal["email"] = "email"
    kind: str
    to_address: str
    subject: str
    status: str = Field(description="`pending` until sent, then `succeeded` (or `failed` after every retry).")
    created_at: datetime
