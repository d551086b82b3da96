"""Idempotency keys: one row per (caller, operation, key), holding the response to replay.

Kit's own table: the unit of work claims keys in it under every domain, so it lives with its store.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shipyard.kit.orm import Base, JSONType, id_column, utcnow


class IdempotencyKey(Base):
    """A claimed key: in flight until its request finishes, then the stored response."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("principal_key", "method", "path", "key"),
        Index("ix_idempotency_keys_expires_at", "expires_at"),
    )

    id: Mapped[str] = id_column("idk")
    principal_key: Mapped[str] = mapped_column(String(80))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(512))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    completed: Mapped[bool] = mapped_column(default=False)
    # The request holding the key renews `locked_until` while it runs; `lease_id` names that request,
    # so a renewal, the stored response and a release only ever touch the holder's own claim.
    locked_until: Mapped[datetime]
    lease_id: Mapped[str | None] = mapped_column(String(32))
    response_status: Mapped[int | None]
    response_headers: Mapped[list[list[str]] | None] = mapped_column(JSONType)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
