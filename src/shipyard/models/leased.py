"""Columns shared by work that jobs claim from the database: webhook deliveries and emails."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.models.base import utcnow


class WorkStatus(StrEnum):
    """Where a piece of work is; `pending` covers queued, running and waiting for a retry."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class LeasedWork:
    """A row that one job at a time may hold, by token, until `leased_until`.

    The relay leases due rows and hands `(id, token)` to the broker after commit; the job then
    swaps the token for its own before acting. A lost message or a killed worker leaves a lease
    that expires, after which the row is due again: work is delayed, never lost.
    """

    status: Mapped[str] = mapped_column(String(16), default=WorkStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_token: Mapped[str | None] = mapped_column(String(32))
    leased_until: Mapped[datetime | None]
    request_id: Mapped[str | None] = mapped_column(String(128))
    last_error: Mapped[str | None] = mapped_column(String(500))
