"""Webhook endpoints: where an organisation wants its events POSTed, and the secrets that sign them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.models.base import Base, JSONType, Timestamped, id_column


class WebhookEndpoint(Timestamped, Base):
    """A receiver URL subscribed to event types. Secrets are stored encrypted (kit/crypto.py)."""

    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_organization_id_id", "organization_id", "id"),)

    id: Mapped[str] = id_column("we")
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[str]] = mapped_column(JSONType)
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    disabled_at: Mapped[datetime | None]
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    # During a rotation the previous secret signs too, until it expires.
    previous_secret_ciphertext: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None]
    # The temporary endpoint of `shipyard webhooks listen`: only that command sets it, and only
    # outside production does it let deliveries reach a loopback address (docs/decisions/0035).
    local_listener: Mapped[bool] = mapped_column(default=False, server_default=false())
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative contract
