"""Every query for error reports. Listing is scoped to an organisation unless the caller is an operator."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.models.error_report import ErrorReport

MAX_ROWS = 1000


def add(session: AsyncSession, report: ErrorReport) -> None:
    """Stage a new report."""
    session.add(report)


async def prune(session: AsyncSession, keep: int = MAX_ROWS) -> int:
    """Delete all but the newest `keep` reports; returns how many went.

    IDs are time-ordered, so "older than the keep-th newest ID" is "older than the last `keep`". The
    subquery is empty (NULL) while fewer than `keep` rows exist, and `id < NULL` deletes nothing.
    """
    cutoff = select(ErrorReport.id).order_by(ErrorReport.id.desc()).offset(keep - 1).limit(1).scalar_subquery()
    result = await session.execute(
        delete(ErrorReport).where(ErrorReport.id < cutoff).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def list_for_organization(
    session: AsyncSession, organization_id: str, *, limit: int, after_id: str | None
) -> list[ErrorReport]:
    """A page of one organisation's reports, newest first (fetches `limit + 1`)."""
    query = select(ErrorReport).where(ErrorReport.organization_id == organization_id)
    if after_id:
        query = query.where(ErrorReport.id < after_id)
    return list(await session.scalars(query.order_by(ErrorReport.id.desc()).limit(limit + 1)))


async def list_all(session: AsyncSession, *, limit: int, after_id: str | None) -> list[ErrorReport]:
    """A page of every organisation's reports and those tied to none (an operator's view; fetches `limit + 1`)."""
    query = select(ErrorReport)
    if after_id:
        query = query.where(ErrorReport.id < after_id)
    return list(await session.scalars(query.order_by(ErrorReport.id.desc()).limit(limit + 1)))
