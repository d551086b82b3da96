"""Every query the job machinery runs: leasing outbox work, the scheduler's lease and its runs, its gauges."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple, TypeVar

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shipyard.models import EmailMessage, Event, JobLease, JobRun, WebhookDelivery, WebhookEndpoint, WorkStatus

Work = TypeVar("Work", WebhookDelivery, EmailMessage)


class Leased(NamedTuple):
    """The rows one pass leased, and how many of them had a lease that ran out (their holder vanished)."""

    ids: list[str]
    expired: int


async def lease_due(
    session: AsyncSession, model: type[Work], *, now: datetime, until: datetime, token: str, limit: int
) -> Leased:
    """Lease up to `limit` due, unheld rows to `token`; rows another transaction holds are skipped.

    Two statements whatever `limit` is, and no ORM objects: the relay runs this for every batch.
    """
    query = (
        select(model.id, model.leased_until)
        .where(
            model.status == WorkStatus.PENDING,
            model.next_attempt_at <= now,
            or_(model.leased_until.is_(None), model.leased_until < now),
        )
        .order_by(model.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    rows = (await session.execute(query)).all()
    ids = [row.id for row in rows]
    if ids:
        lease = update(model).where(model.id.in_(ids)).values(lease_token=token, leased_until=until)
        await session.execute(lease.execution_options(synchronize_session=False))
    # A finished attempt clears its lease, so a due row that still has one was abandoned by its holder.
    return Leased(ids, sum(1 for row in rows if row.leased_until is not None))


async def take(
    session: AsyncSession, model: type[Work], row_id: str, *, token: str, mine: str, now: datetime, until: datetime
) -> Work | None:
    """Swap the relay's lease for this job's, counting an attempt; None if someone else holds the row.

    One conditional UPDATE, so two jobs holding the same message (a reclaimed or re-sent one)
    cannot both win. A row whose lease ran out (its worker died) may be taken by any job.
    """
    statement = (
        update(model)
        .where(
            model.id == row_id,
            model.status == WorkStatus.PENDING,
            model.next_attempt_at <= now,
            or_(model.lease_token == token, model.leased_until.is_(None), model.leased_until < now),
        )
        .values(lease_token=mine, leased_until=until, attempts=model.attempts + 1)
        .returning(model)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return (await session.scalars(statement)).one_or_none()


async def take_many(
    session: AsyncSession,
    model: type[Work],
    claims: Iterable[tuple[str, str]],
    *,
    mine: str,
    now: datetime,
    until: datetime,
) -> list[Work]:
    """`take` for many `(row_id, token)` claims in one UPDATE; returns the rows won (all now held by `mine`).

    Each row keeps `take`'s condition: its own relay token, or a lease that ran out.
    """
    by_token: dict[str, list[str]] = defaultdict(list)
    for row_id, token in claims:
        by_token[token].append(row_id)
    if not by_token:
        return []
    ids = [row_id for row_ids in by_token.values() for row_id in row_ids]
    relayed_to_us = or_(
        *(and_(model.id.in_(row_ids), model.lease_token == token) for token, row_ids in by_token.items())
    )
    statement = (
        update(model)
        .where(
            model.id.in_(ids),
            model.status == WorkStatus.PENDING,
            model.next_attempt_at <= now,
            or_(relayed_to_us, model.leased_until.is_(None), model.leased_until < now),
        )
        .values(lease_token=mine, leased_until=until, attempts=model.attempts + 1)
        .returning(model)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    return list(await session.scalars(statement))


async def held_many(session: AsyncSession, model: type[Work], leases: Iterable[tuple[str, str]]) -> dict[str, Work]:
    """`held` for many `(row_id, mine)` leases: the rows still held, locked (in ID order), by ID."""
    mine_of = dict(leases)
    if not mine_of:
        return {}
    query = (
        select(model)
        .where(model.id.in_(list(mine_of)), model.lease_token.in_(set(mine_of.values())))
        .order_by(model.id)
        .with_for_update()
    )
    rows = await session.scalars(query.execution_options(populate_existing=True))
    return {row.id: row for row in rows if row.lease_token == mine_of[row.id]}


async def held(session: AsyncSession, model: type[Work], row_id: str, mine: str) -> Work | None:
    """The row, locked, if this job still holds it (its lease was not taken over meanwhile)."""
    query = select(model).where(model.id == row_id, model.lease_token == mine).with_for_update()
    return (await session.scalars(query.execution_options(populate_existing=True))).one_or_none()


async def oldest_due(session: AsyncSession, model: type[Work]) -> datetime | None:
    """When the longest-waiting pending row became due."""
    return await session.scalar(select(func.min(model.next_attempt_at)).where(model.status == WorkStatus.PENDING))


async def due_backlog(session: AsyncSession, model: type[Work], *, now: datetime) -> tuple[int, datetime | None]:
    """How many pending rows are due, and when the longest-waiting one became due."""
    due = (model.status == WorkStatus.PENDING) & (model.next_attempt_at <= now)
    row = (await session.execute(select(func.count(), func.min(model.next_attempt_at)).where(due))).one()
    return int(row[0]), row[1]


async def acquire_lease(session: AsyncSession, name: str, holder: str, *, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the named lease for `holder`; False while someone else holds it."""
    result = await session.execute(
        update(JobLease)
        .where(JobLease.name == name, or_(JobLease.holder == holder, JobLease.expires_at < now))
        .values(holder=holder, expires_at=now + ttl)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]  # CursorResult for UPDATE
        return True
    if await session.get(JobLease, name) is not None:
        return False
    try:
        async with session.begin_nested():
            session.add(JobLease(name=name, holder=holder, expires_at=now + ttl))
    except IntegrityError:
        return False  # another instance created it first
    return True


async def release_lease(session: AsyncSession, name: str, holder: str) -> None:
    """Give the lease up at once, so that a waiting instance takes over without waiting it out."""
    await session.execute(delete(JobLease).where(JobLease.name == name, JobLease.holder == holder))


async def claim_run(session: AsyncSession, job: str, slot: str, holder: str) -> bool:
    """Record `job`'s run for `slot`; False if that slot already ran (whoever ran it)."""
    try:
        async with session.begin_nested():
            session.add(JobRun(job=job, slot=slot, holder=holder))
    except IntegrityError:
        return False
    return True


async def prune_runs(session: AsyncSession, before: datetime) -> int:
    """Forget periodic runs started before `before`."""
    result = await session.execute(delete(JobRun).where(JobRun.started_at < before))
    return int(result.rowcount)  # type: ignore[attr-defined]  # CursorResult for DELETE


async def outbox_backlog(session: AsyncSession) -> tuple[int, datetime | None]:
    """How many events wait for the relay, and when the oldest was written."""
    row = (
        await session.execute(select(func.count(), func.min(Event.created_at)).where(Event.dispatched_at.is_(None)))
    ).one()
    return int(row[0]), row[1]


async def count_disabled_endpoints(session: AsyncSession) -> int:
    """Webhook endpoints switched off, across organisations (a gauge)."""
    return int(await session.scalar(select(func.count()).where(WebhookEndpoint.enabled.is_(False))) or 0)
