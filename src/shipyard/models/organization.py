"""Organisations: the tenant every domain row belongs to."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.models.base import Base, Timestamped, id_column


class Organization(Timestamped, Base):
    """A tenant."""

    __tablename__ = "organizations"

    id: Mapped[str] = id_column("org")
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The last invoice number handed out; incremented under a row lock so numbers never repeat.
    invoice_seq: Mapped[int] = mapped_column(BigInteger, default=0)
