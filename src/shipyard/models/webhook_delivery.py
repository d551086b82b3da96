"""Webhook deliveries (one event to one endpoint) and each attempt at one."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.models.base import Base, Timestamped, id_column, utcnow
from shipyard.models.leased import LeasedWork


class WebhookDelivery(LeasedWork, Timestamped, Base):
    """An event on its way to an endpoint; `webhook-id` is the event's ID, so a redelivery dedupes."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        # The sweep's queue: pending rows by due time.
        Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[str] = id_column("whd")
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    last_status_code: Mapped[int | None]
    last_latency_ms: Mapped[int | None]
    completed_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """One HTTP request of a delivery: what came back and how long it took."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_delivery_id_number", "delivery_id", "number"),)

    id: Mapped[str] = id_column("wha")
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"))
    number: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    latency_ms: Mapped[int | None]
    status_code: Mapped[int | None]
    # At most `webhook_response_max_bytes` of the body, decoded leniently.
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(500))
    outcome: Mapped[str] = mapped_column(String(16))
