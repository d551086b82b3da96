"""The job runtime of one process: its broker, its jobs, and what it runs in the background.

`running(...)` is what `shipyard worker` and `shipyard scheduler` enter, and, through
`worker_wiring.embedded(app)`, `shipyard serve` in its lifespan: without REDIS_URL it runs a worker
(the in-process broker, fed by the relay) and the scheduler inside the web process; with it, only a
producer that asks the Redis workers to relay after each commit. The runtime knows no domain: the
jobs, the relay's claim and the periodic jobs come in a `JobWiring` from the composition layer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from redis.exceptions import RedisError
from taskiq import AsyncBroker, InMemoryBroker
from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver

from shipyard.kit import pinned_http
from shipyard.kit.db import Database
from shipyard.kit.idempotency import IdempotencyStore
from shipyard.kit.logging import get_logger
from shipyard.settings import Settings
from shipyard.worker import dispatch, relay, tasks
from shipyard.worker.broker import create_broker
from shipyard.worker.metrics import JobMetrics
from shipyard.worker.scheduler import PeriodicJob, Scheduler

log = get_logger("shipyard.worker")
METRICS_REFRESH_S = 15.0
SHUTDOWN_GRACE_S = 5.0


class Runtime:
    """Everything a job needs, built once per process from the settings."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        broker: AsyncBroker,
        metrics: JobMetrics,
        wiring: tasks.JobWiring,
        *,
        idempotency: IdempotencyStore | None = None,
    ) -> None:
        self.settings = settings
        self.database = database
        # The app's own store when the app runs jobs in its lifespan (decision 0039).
        self.idempotency = idempotency or IdempotencyStore.from_settings(database, settings)
        self.broker = broker
        self.metrics = metrics
        self.wiring = wiring
        # No proxies from the environment: a proxy would connect somewhere the SSRF guard never checked.
        # A connection kept alive for every job that may run at once: with httpx's default of 20, a
        # worker running 32 deliveries to one endpoint opened a new connection for a third of them.
        keep_alive = max(settings.jobs_concurrency, 20)
        # Connections go only to the address checked for each request (kit/pinned_http.py).
        self.http = pinned_http.client(timeout_s=settings.webhook_timeout_s, keep_alive=keep_alive)
        # In-process transport: this process runs whatever it enqueues, so it must not take more than it can run.
        self.local = isinstance(broker, InMemoryBroker)
        self.in_flight = 0
        self.tasks = tasks.register(broker, self, wiring)
        self.scheduler: Scheduler | None = None
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._relay_kick_pending = False
        self._stop_receiving = asyncio.Event()
        self._receiving: asyncio.Task[Any] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def stopping(self) -> bool:
        """Whether `close()` has begun: jobs cut off now are retried later, not failed."""
        return self._stopping.is_set()

    def capacity(self) -> int:
        """How many more jobs the relay may hand over now."""
        if not self.local:
            return self.settings.jobs_batch_size
        return max(0, self.settings.jobs_concurrency - self.in_flight)

    async def enqueue(self, name: str, *args: str, request_id: str | None = None) -> bool:
        """Send a job to the broker; False if it could not be sent (its lease expires and it is retried)."""
        counted = self.local and name in self.wiring.counted
        if counted:
            self.in_flight += 1
        kicker = self.tasks[name].kicker()
        if request_id:
            kicker = kicker.with_labels(request_id=request_id)
        try:
            await kicker.kiq(*args)
        except Exception as exc:  # noqa: BLE001 - the broker being down only delays the work
            if counted:
                self.in_flight -= 1
            log.warning("job_not_enqueued", job=name, error=str(exc))
            return False
        return True

    def finished(self, name: str) -> None:
        """A counted job ended: free its slot and let the relay refill it."""
        if self.local and name in self.wiring.counted:
            self.in_flight -= 1
            # Refill in batches, not one claim transaction per finished job.
            if self.in_flight <= self.settings.jobs_concurrency // 2:
                self._wake.set()

    def wake(self, request_id: str | None) -> None:
        """After a commit that queued work: relay now rather than at the next poll."""
        if self.local:
            self._wake.set()
        elif not self._relay_kick_pending:
            # One message at a time is enough: the relay drains everything committed before it runs.
            self._relay_kick_pending = True
            self.spawn(self._kick_relay(request_id))

    async def _kick_relay(self, request_id: str | None) -> None:
        try:
            await self.enqueue(tasks.RELAY, request_id=request_id)
        finally:
            self._relay_kick_pending = False

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coroutine` in the background for as long as the runtime lives."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def pump(self) -> None:
        """The in-process transport's relay loop: woken by commits and finished jobs, else it polls."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.settings.jobs_poll_interval_s)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                await relay.relay(self)
            except Exception:  # the database may be away for a moment; poll again
                log.exception("relay_failed")

    async def refresh_metrics(self) -> None:
        """Recompute the outbox gauges now and then."""
        while not self._stopping.is_set():
            try:
                async with self.database.reader() as session:
                    await self.metrics.refresh(session)
            except Exception:  # noqa: BLE001 - metrics must never take the process down
                log.warning("metrics_refresh_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=METRICS_REFRESH_S)

    def periodic_jobs(self) -> list[PeriodicJob]:
        """The scheduler's jobs: the wired ones and, on Redis, the relay's sweep."""
        jobs = self.wiring.periodic(self)
        if not self.local:
            # Each in-process worker polls by itself; Redis workers are fed by this sweep (and by commits).
            sweep = timedelta(seconds=self.settings.jobs_poll_interval_s)
            jobs.append(PeriodicJob("outbox.sweep", sweep, lambda: self.enqueue(tasks.RELAY), once_per_slot=False))
        return jobs

    def start_receiving(self) -> None:
        """Consume the Redis stream in the background."""
        self._receiving = self.spawn(_receive(self, self._stop_receiving))

    async def close(self) -> None:
        """Stop background work, let running jobs finish briefly, and release connections."""
        if self._receiving is not None:
            # Stop taking messages, then give running jobs a moment; the rest stay unacknowledged.
            self._stop_receiving.set()
            await asyncio.wait({self._receiving}, timeout=SHUTDOWN_GRACE_S + 1)
        # Loops stop between transactions rather than being cancelled inside one: a transaction cut
        # off mid-way can leave a connection holding row locks that the next statement waits on.
        self._stopping.set()
        self._wake.set()
        if self.scheduler is not None:
            self.scheduler.stop()
        if self._background:
            await asyncio.wait(set(self._background), timeout=SHUTDOWN_GRACE_S)
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if isinstance(self.broker, InMemoryBroker):
            running = list(self.broker._running_tasks)  # noqa: SLF001 - taskiq exposes no public view of them
            if running:
                _, pending = await asyncio.wait(running, timeout=SHUTDOWN_GRACE_S)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        await self.http.aclose()
        await self.broker.shutdown()


async def _receive(runtime: Runtime, stop: asyncio.Event) -> None:
    """Consume the Redis stream until cancelled; unfinished jobs stay unacknowledged and are reclaimed."""
    receiver = Receiver(
        runtime.broker,
        max_async_tasks=runtime.settings.jobs_concurrency,
        ack_type=AcknowledgeType.WHEN_EXECUTED,
        run_startup=False,
        wait_tasks_timeout=SHUTDOWN_GRACE_S,
    )
    runtime.broker.is_worker_process = True
    await receiver.listen(stop)


@asynccontextmanager
async def running(
    settings: Settings,
    database: Database,
    *,
    wiring: tasks.JobWiring,
    work: bool,
    schedule: bool,
    metrics: JobMetrics | None = None,
    scheduler_holder: str | None = None,
    idempotency: IdempotencyStore | None = None,
) -> AsyncIterator[Runtime]:
    """A runtime that runs jobs (`work`) and/or the scheduler (`schedule`), until the block exits.

    In the app's lifespan it shares the app's `idempotency` store; a standalone worker builds its own.
    """
    broker = create_broker(settings)
    runtime = Runtime(settings, database, broker, metrics or JobMetrics(), wiring, idempotency=idempotency)
    runtime.metrics.pools.watch(database)
    try:
        await broker.startup()
    except RedisError:
        if work:
            raise
        # A web process only produces: it must start (and answer /ready with 503) while Redis is
        # down. Work committed meanwhile waits in the outbox; the workers' sweep hands it over later.
        log.warning("job_queue_unreachable_at_startup")
    dispatch.register(database.write_engine, runtime.wake)
    try:
        if work and runtime.local:
            runtime.spawn(runtime.pump())
        elif work:
            runtime.start_receiving()
        if schedule:
            runtime.scheduler = Scheduler(
                database,
                runtime.periodic_jobs(),
                lease_s=settings.scheduler_lease_s,
                tick_s=settings.scheduler_tick_s,
                holder=scheduler_holder,
            )
            runtime.spawn(runtime.scheduler.run_forever())
        runtime.spawn(runtime.refresh_metrics())
        yield runtime
    finally:
        dispatch.unregister(database.write_engine, runtime.wake)
        await runtime.close()
