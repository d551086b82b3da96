"""Invoice counts and amounts per organisation, kept in the same transaction as every invoice write.

Two small tables answer the organisation aggregates without reading `invoices`
(decisions/0058-invoice-totals-kept-with-the-writes.md):

- `invoice_totals`: invoices and their summed totals per status and currency;
- `open_invoice_aging`: open invoices per currency and the day they age from (their due date, else
  the UTC day they were finalized), so aging buckets relative to any "today" are a range read.

Each key is split over `TOTALS_SHARDS` rows by the invoice ID's last character (`shard`), so
concurrent writers of one organisation rarely wait for the same row lock; readers sum the shards.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, ForeignKey, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.models.base import Base

TOTALS_SHARDS = 8


class InvoiceTotal(Base):
    """How many invoices of one status and currency an organisation has (one shard), and their sum."""

    __tablename__ = "invoice_totals"

    organization_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    invoice_count: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)


class OpenInvoiceAging(Base):
    """How many open invoices of one currency age from one day (one shard), and their sum."""

    __tablename__ = "open_invoice_aging"

    organization_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    aged_from: Mapped[date] = mapped_column(primary_key=True)
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    invoice_count: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
