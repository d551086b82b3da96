"""Customers: the reference domain's first resource."""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.models.base import Base, JSONType, Timestamped, id_column


class Customer(Timestamped, Base):
    """A customer of an organisation."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_organization_id_email", "organization_id", "email"),
        # The list: a tenant's page in id order without walking other tenants' rows (migration 0008).
        Index("ix_customers_organization_id_id", "organization_id", "id"),
    )

    id: Mapped[str] = id_column("cus")
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    archived_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative contract


class CustomerRow(NamedTuple):
    """A customer as a read shows it: the `Customer` columns, by the same names, without the ORM.

    Read through `kit.direct_reads.RowShape`, which checks these fields against the columns above.
    """

    id: str
    organization_id: str
    name: str
    email: str
    metadata_: dict[str, Any]
    archived_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime


# The search (`?q=` and MCP `search_customers`) is `lower(name|email) LIKE '%text%'`: only a trigram
# index serves a pattern that starts with a wildcard. PostgreSQL only (pg_trgm); SQLite reads the
# tenant's rows (migration 0009, docs/decisions/0057).
SEARCH_INDEXES = tuple(
    Index(
        f"ix_customers_lower_{column}_trgm",
        func.lower(Customer.__table__.c[column]).label(f"lower_{column}"),
        postgresql_using="gin",
        postgresql_ops={f"lower_{column}": "gin_trgm_ops"},
    ).ddl_if(dialect="postgresql")
    for column in ("name", "email")
)
