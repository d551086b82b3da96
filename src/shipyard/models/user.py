"""Users: people who sign in (through OIDC) or create API tokens."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.models.base import Base, Timestamped, id_column


class User(Timestamped, Base):
    """A person. Their sign-in identities live in their own table (see the identity issue)."""

    __tablename__ = "users"

    id: Mapped[str] = id_column("usr")
    email: Mapped[str | None] = mapped_column(String(320), unique=True)
    email_verified: Mapped[bool] = mapped_column(default=False)
    name: Mapped[str] = mapped_column(String(200), default="")
