"""Error reports: the last 1,000 server errors (5xx and unhandled exceptions) of the deployment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.models.base import Base, id_column, utcnow


class ErrorReport(Base):
    """One server error. Append-only for readers; only the bounded prune on insert deletes rows."""

    __tablename__ = "error_reports"
    __table_args__ = (Index("ix_error_reports_organization_id_id", "organization_id", "id"),)

    id: Mapped[str] = id_column("err")
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    request_id: Mapped[str | None] = mapped_column(String(128))
    method: Mapped[str | None] = mapped_column(String(8))
    # The route template (`/api/v1/customers/{customer_id}`), never the raw path: IDs in a path are data.
    route: Mapped[str] = mapped_column(String(200))
    status: Mapped[int] = mapped_column(Integer)
    exception_type: Mapped[str | None] = mapped_column(String(200))
    # Scrubbed of credentials and personal data before it is stored (see error_reports.service).
    message: Mapped[str] = mapped_column(String(1000))
    # Null when the failing request had no authenticated organisation; such rows are operator-only.
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"))
