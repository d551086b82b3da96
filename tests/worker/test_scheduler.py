"""The scheduler: of two instances only one runs periodic jobs; the other waits and takes over."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from shipyard.kit.db import create_database
from shipyard.models import JobRun
from shipyard.settings import Settings
from shipyard.worker.scheduler import PeriodicJob, Scheduler


def _recording(runs: list[tuple[str, int]], name: str, job: str = "test.tick") -> PeriodicJob:
    every = timedelta(seconds=1)

    async def run() -> None:
        runs.append((name, int(datetime.now(UTC).timestamp())))

    return PeriodicJob(job, every, run)


async def _run_for(schedulers: list[Scheduler], seconds: float) -> None:
    tasks = [asyncio.create_task(s.run_forever()) for s in schedulers]
    await asyncio.sleep(seconds)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_only_one_of_two_instances_runs_a_job_in_each_slot(settings: Settings) -> None:
    runs: list[tuple[str, int]] = []
    a_db, b_db = create_database(settings), create_database(settings)
    try:
        a = Scheduler(a_db, [_recording(runs, "a")], lease_s=5, tick_s=0.05, holder="a")
        b = Scheduler(b_db, [_recording(runs, "b")], lease_s=5, tick_s=0.05, holder="b")
        await _run_for([a, b], 3.2)
        async with a_db.reader() as session:
            recorded = list(await session.scalars(select(JobRun).where(JobRun.job == "test.tick")))
    finally:
        await a_db.dispose()
        await b_db.dispose()
    assert len({name for name, _ in runs}) == 1  # one instance did all the work; the other waited
    assert len(runs) >= 3
    # Each run claimed its one-second slot first (the slot's primary key admits one claim), so as
    # many runs as distinct slots: never twice in the same slot.
    assert len(runs) == len({r.slot for r in recorded})
    assert {r.holder for r in recorded} == {runs[0][0]}


async def test_a_minutely_job_runs_once_in_its_minute_with_two_instances(settings: Settings) -> None:
    runs: list[str] = []

    def minutely(name: str) -> PeriodicJob:
        async def run() -> None:
            runs.append(name)

        return PeriodicJob("test.minutely", timedelta(minutes=1), run)

    a_db, b_db = create_database(settings), create_database(settings)
    try:
        a = Scheduler(a_db, [minutely("a")], lease_s=0.3, tick_s=0.05, holder="a")
        b = Scheduler(b_db, [minutely("b")], lease_s=0.3, tick_s=0.05, holder="b")
        # Ten seconds into a minute, so that both ticks fall in the same minute whatever the clock
        # says (the lease and the slot both follow the `now` passed in).
        now = datetime.now(UTC).replace(second=10, microsecond=0)
        # Even if both led at once (as after a long pause), the slot's record admits one run.
        assert await a.tick(now) == ["test.minutely"]
        b._last_slot.clear()
        # a's 0.3 s lease has expired by b's tick: b becomes the leader in the same minute.
        assert await b.tick(now + timedelta(seconds=0.35)) == []
        assert b.is_leader
    finally:
        await a_db.dispose()
        await b_db.dispose()
    assert runs == ["a"]


async def test_the_waiting_instance_takes_over_when_the_active_one_stops(settings: Settings) -> None:
    runs: list[tuple[str, int]] = []
    a_db, b_db = create_database(settings), create_database(settings)
    try:
        a = Scheduler(a_db, [_recording(runs, "a")], lease_s=30, tick_s=0.05, holder="a")
        b = Scheduler(b_db, [_recording(runs, "b")], lease_s=30, tick_s=0.05, holder="b")
        assert await a.tick() == ["test.tick"]
        assert await b.tick() == []
        assert (a.is_leader, b.is_leader) == (True, False)
        task_a = asyncio.create_task(a.run_forever())
        task_b = asyncio.create_task(b.run_forever())
        await asyncio.sleep(0.3)
        task_a.cancel()  # a graceful stop releases the lease...
        with contextlib.suppress(asyncio.CancelledError):
            await task_a
        await asyncio.sleep(1.5)  # ...so b leads long before the 30 s lease would have expired
        task_b.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task_b
    finally:
        await a_db.dispose()
        await b_db.dispose()
    assert any(name == "b" for name, _ in runs)
    assert max(slot for name, slot in runs if name == "a") < min(slot for name, slot in runs if name == "b")


async def test_a_crashed_leader_is_replaced_after_its_lease_expires(settings: Settings) -> None:
    a_db, b_db = create_database(settings), create_database(settings)
    try:
        a = Scheduler(a_db, [], lease_s=0.5, tick_s=0.05, holder="a")
        b = Scheduler(b_db, [], lease_s=0.5, tick_s=0.05, holder="b")
        await a.tick()  # a leads, then "dies": it never ticks or releases again
        await b.tick()
        assert not b.is_leader
        await asyncio.sleep(0.6)
        await b.tick()
        assert b.is_leader
    finally:
        await a_db.dispose()
        await b_db.dispose()
