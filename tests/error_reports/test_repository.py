"""The bounded table: pruning to the newest 1,000 rows, and organisation-scoped listing."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import func, select

from shipyard.error_reports import repository
from shipyard.models.error_report import ErrorReport
from tests.fixtures.tenants import Tenant


def report(number: int, organization_id: str | None = None) -> ErrorReport:
    # Explicit, ordered IDs: "newest" is the highest ID, as with real time-ordered IDs.
    return ErrorReport(
        id=f"err_{number:026d}", route="/x", status=500, message=f"error {number}", organization_id=organization_id
    )


async def test_prune_keeps_only_the_newest_1000_reports(mcp_app: FastAPI) -> None:
    async with mcp_app.state.database.writer() as session:
        session.add_all([report(n) for n in range(1, 1006)])
        await session.commit()
    async with mcp_app.state.database.writer() as session:
        deleted = await repository.prune(session)
        await session.commit()
    async with mcp_app.state.database.reader() as session:
        remaining = list(await session.scalars(select(ErrorReport.id).order_by(ErrorReport.id)))
    assert deleted == 5
    assert len(remaining) == repository.MAX_ROWS
    assert remaining[0] == f"err_{6:026d}"
    assert remaining[-1] == f"err_{1005:026d}"


async def test_prune_below_the_bound_deletes_nothing(mcp_app: FastAPI) -> None:
    async with mcp_app.state.database.writer() as session:
        session.add_all([report(n) for n in range(1, 4)])
        await session.commit()
        assert await repository.prune(session) == 0
        await session.commit()
        assert await session.scalar(select(func.count()).select_from(ErrorReport)) == 3


async def test_listing_an_organisation_shows_only_its_reports_newest_first_in_pages(
    mcp_app: FastAPI, tenant: Tenant, other_tenant: Tenant
) -> None:
    async with mcp_app.state.database.writer() as session:
        session.add_all(
            [report(1, tenant.organization_id), report(2, other_tenant.organization_id), report(3, None)]
            + [report(n, tenant.organization_id) for n in (4, 5)]
        )
        await session.commit()
    async with mcp_app.state.database.reader() as session:
        first = await repository.list_for_organization(session, tenant.organization_id, limit=2, after_id=None)
        rest = await repository.list_for_organization(session, tenant.organization_id, limit=2, after_id=first[1].id)
        everything = await repository.list_all(session, limit=10, after_id=None)
    assert [r.message for r in first] == ["error 5", "error 4", "error 1"]  # limit + 1 look-ahead
    assert [r.message for r in rest] == ["error 1"]
    assert [r.message for r in everything] == [f"error {n}" for n in (5, 4, 3, 2, 1)]
