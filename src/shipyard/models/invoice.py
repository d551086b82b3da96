"""Invoices: numbered per organisation, with line items and a draft → open → paid|void lifecycle."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.models.base import Base, JSONType, Timestamped, id_column


class InvoiceStatus(StrEnum):
    """Where an invoice is in its lifecycle."""

    DRAFT = "draft"
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


class Invoice(Timestamped, Base):
    """An invoice. Line items are a JSON snapshot: they belong to the invoice and freeze with it."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("organization_id", "number"),
        # Each list filter ends in `id`, so a page comes back in order and stops at its limit (0008).
        Index("ix_invoices_organization_id_id", "organization_id", "id"),
        Index("ix_invoices_organization_id_status_id", "organization_id", "status", "id"),
        Index("ix_invoices_organization_id_customer_id_id", "organization_id", "customer_id", "id"),
    )

    id: Mapped[str] = id_column("inv")
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=InvoiceStatus.DRAFT)
    currency: Mapped[str] = mapped_column(String(3))
    line_items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    total: Mapped[int] = mapped_column(BigInteger)
    due_date: Mapped[date | None]
    memo: Mapped[str] = mapped_column(String(2000), default="")
    finalized_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    voided_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative contract


class InvoiceRow(NamedTuple):
    """An invoice as a read shows it: the `Invoice` columns, by the same names, without the ORM.

    Read through `kit.direct_reads.RowShape`, which checks these fields against the columns above.
    """

    id: str
    organization_id: str
    customer_id: str
    number: int
    status: str
    currency: str
    line_items: list[dict[str, Any]]
    total: int
    due_date: date | None
    memo: str
    finalized_at: datetime | None
    paid_at: datetime | None
    voided_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime
