"""The periodic jobs the scheduler starts: pruning expired idempotency keys and old run records."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from shipyard.models import IdempotencyKey, JobRun
from shipyard.models.base import utcnow
from shipyard.worker_wiring import PRUNE
from tests.fixtures.jobs import eventually, runtime_of
from tests.webhooks.conftest import Hooked


def _key(name: str, expires_in: timedelta) -> IdempotencyKey:
    now = utcnow()
    return IdempotencyKey(
        principal_key="org:tok",
        method="POST",
        path="/api/v1/customers",
        key=name,
        fingerprint="0" * 64,
        completed=True,
        locked_until=now,
        created_at=now,
        expires_at=now + expires_in,
    )


async def test_the_prune_job_deletes_expired_keys_and_old_runs_only(hooked: Hooked) -> None:
    database = hooked.app.state.database
    async with database.writer() as session:
        session.add_all([_key("old", timedelta(hours=-1)), _key("fresh", timedelta(hours=23))])
        session.add(JobRun(job="test.old", slot="1", holder="x", started_at=utcnow() - timedelta(days=8)))
        session.add(JobRun(job="test.new", slot="1", holder="x", started_at=utcnow()))
        await session.commit()
    assert await runtime_of(hooked.app).enqueue(PRUNE)

    async def pruned() -> list[str] | None:
        # The job prunes keys and runs in transactions of their own: wait until both are done.
        async with database.reader() as session:
            keys = list(await session.scalars(select(IdempotencyKey.key)))
            old_runs = await session.scalar(select(func.count()).where(JobRun.job == "test.old"))
        return keys if keys == ["fresh"] and old_runs == 0 else None

    await eventually(pruned)
    async with database.reader() as session:
        assert await session.scalar(select(func.count()).where(JobRun.job == "test.new")) == 1


async def test_the_embedded_scheduler_ran_the_daily_and_hourly_jobs_once(hooked: Hooked) -> None:
    database = hooked.app.state.database

    async def recorded() -> set[str] | None:
        async with database.reader() as session:
            jobs = set(await session.scalars(select(JobRun.job)))
        return jobs if {"email.reminders", "jobs.prune"} <= jobs else None

    assert await eventually(recorded) >= {"email.reminders", "jobs.prune"}
    async with database.reader() as session:
        counts = dict((await session.execute(select(JobRun.job, func.count()).group_by(JobRun.job))).all())
    assert counts["email.reminders"] == 1
    assert counts["jobs.prune"] == 1
