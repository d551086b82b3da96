"""Outgoing emails: queued in the transaction that decides to send them, sent by a job each."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.models.base import Base, Timestamped, id_column
from shipyard.models.leased import LeasedWork


class EmailMessage(LeasedWork, Timestamped, Base):
    """One message to one recipient, with a plain-text and an optional HTML part."""

    __tablename__ = "email_messages"
    __table_args__ = (
        Index("ix_email_messages_organization_id_id", "organization_id", "id"),
        Index(
            "ix_email_messages_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[str] = id_column("eml")
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    # Makes a job that runs twice (a daily reminder, say) queue the message once.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
