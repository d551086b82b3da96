"""The event outbox: written in the transaction of the change it describes, relayed after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.models.base import Base, JSONType, id_column, utcnow


class Event(Base):
    """Something that happened in an organisation, with a snapshot of the object it happened to."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_organization_id_id", "organization_id", "id"),
        # The relay's queue: only rows not yet fanned out to webhook deliveries.
        Index(
            "ix_events_undispatched",
            "id",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
    )

    id: Mapped[str] = id_column("evt")
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None]
