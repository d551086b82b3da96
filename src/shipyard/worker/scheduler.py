"""The scheduler: periodic jobs, run by exactly one active instance at a time.

Every instance renews (or tries to take) a lease row in the database each tick. The holder runs
the jobs that are due; the others wait, and take over when the holder stops (it releases the
lease) or dies (the lease expires). Each periodic run is also recorded per time slot under a
primary key, so even two instances that both believed they led (a long pause past the lease)
cannot run a job twice in the same slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from shipyard.kit.db import Database
from shipyard.kit.logging import get_logger
from shipyard.models.base import utcnow
from shipyard.worker import repository

log = get_logger("shipyard.scheduler")
LEASE = "scheduler"
RELEASE_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """`run` once per `every` (slots are aligned to the Unix epoch: daily jobs run after midnight UTC)."""

    name: str
    every: timedelta
    run: Callable[[], Awaitable[object]]
    # False for frequent housekeeping (the sweep) that may harmlessly run twice and need not be logged.
    once_per_slot: bool = True

    def slot(self, now: datetime) -> int:
        """The time slot `now` falls in."""
        return int(now.timestamp() // self.every.total_seconds())


class Scheduler:
    """One instance of `shipyard scheduler` (or of the scheduler inside `shipyard serve`)."""

    def __init__(
        self,
        database: Database,
        jobs: list[PeriodicJob],
        *,
        lease_s: float,
        tick_s: float,
        holder: str | None = None,
    ) -> None:
        self.database = database
        self.jobs = jobs
        self.lease = timedelta(seconds=lease_s)
        self.tick_s = tick_s
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.is_leader = False
        self._last_slot: dict[str, int] = {}
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """Finish the current tick, give the lease up, and return from `run_forever`."""
        self._stop.set()

    async def run_forever(self) -> None:
        """Tick until cancelled; give the lease up on the way out."""
        log.info("scheduler_started", holder=self.holder)
        try:
            while not self._stop.is_set():
                try:
                    await self.tick()
                except Exception:  # a failed tick (database down) must not end the scheduler
                    log.exception("scheduler_tick_failed")
                    self.is_leader = False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self.tick_s)
        finally:
            if self.is_leader:
                await asyncio.shield(self.release())

    async def tick(self, now: datetime | None = None) -> list[str]:
        """Renew or take the lease; if held, run the jobs due in this slot. Returns the jobs run."""
        now = now or utcnow()
        async with self.database.writer() as session:
            leader = await repository.acquire_lease(session, LEASE, self.holder, now=now, ttl=self.lease)
            await session.commit()
        if leader != self.is_leader:
            log.info("scheduler_active" if leader else "scheduler_waiting", holder=self.holder)
        self.is_leader = leader
        if not leader:
            return []
        ran = []
        for job in self.jobs:
            slot = job.slot(now)
            if self._last_slot.get(job.name) == slot:
                continue
            self._last_slot[job.name] = slot
            if job.once_per_slot and not await self._claim(job, slot):
                continue
            try:
                await job.run()
            except Exception:  # one failing job must not stop the others
                log.exception("periodic_job_failed", job=job.name)
                continue
            ran.append(job.name)
        return ran

    async def _claim(self, job: PeriodicJob, slot: int) -> bool:
        async with self.database.writer() as session:
            claimed = await repository.claim_run(session, job.name, str(slot), self.holder)
            await session.commit()
        return claimed

    async def release(self) -> None:
        """Give up the lease so that a waiting instance takes over at its next tick."""
        try:
            async with asyncio.timeout(RELEASE_TIMEOUT_S), self.database.writer() as session:
                await repository.release_lease(session, LEASE, self.holder)
                await session.commit()
        except Exception:  # noqa: BLE001 - the lease then simply expires
            log.warning("scheduler_release_failed", holder=self.holder)
        self.is_leader = False
