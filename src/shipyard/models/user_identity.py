"""Sign-in identities: who a user is at an OpenID provider, kept apart from the user's own email."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.models.base import Base, Timestamped, id_column


class UserIdentity(Timestamped, Base):
    """One `(issuer, subject)` pair that signs in as a user; several may link to the same user."""

    __tablename__ = "user_identities"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[str] = id_column("idn")
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issuer: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(255))
    # The upstream source (google, github, entraid, apple) when the provider names it.
    provider: Mapped[str | None] = mapped_column(String(64))
    # What the provider last said; the user's own email is only set from a verified one.
    email: Mapped[str | None] = mapped_column(String(320))
    email_verified: Mapped[bool] = mapped_column(default=False)
    last_login_at: Mapped[datetime | None]
