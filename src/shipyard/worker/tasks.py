"""The job registry's machinery: what the composition layer hands the runtime, and how jobs are registered.

The worker knows no domain. `JobWiring` (built in `shipyard/worker_wiring.py`, the one place that
knows every domain's jobs) says which jobs exist, which of them hold a unit of concurrency, how the
relay claims due work, and what the scheduler runs. This module registers them on the broker, each
timed, and each counted job freeing its slot when it ends.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask

from shipyard.kit.logging import get_logger
from shipyard.worker import relay

if TYPE_CHECKING:
    from shipyard.worker.runtime import Runtime
    from shipyard.worker.scheduler import PeriodicJob

log = get_logger("shipyard.worker")
RELAY = "outbox.relay"

Tasks = dict[str, AsyncTaskiqDecoratedTask[Any, Any]]
Job = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class JobWiring:
    """The domains' part of a job runtime, supplied by the composition layer."""

    # The jobs besides the relay, by name (`<domain>.<action>`), built once per runtime.
    jobs: Callable[[Runtime], Mapping[str, Job]]
    # Jobs that hold a unit of the worker's concurrency while they run (the in-process transport counts them).
    counted: frozenset[str]
    # One committed pass over the outbox, taking at most `limit` rows of each kind.
    claim: Callable[[Runtime, int], Awaitable[relay.Claimed]]
    # The scheduler's jobs (the runtime adds the relay's sweep on Redis).
    periodic: Callable[[Runtime], list[PeriodicJob]]


def register(broker: AsyncBroker, runtime: Runtime, wiring: JobWiring) -> Tasks:
    """Register the relay and every wired job on `broker`, each closing over `runtime` (no module-level state)."""

    async def outbox_relay() -> int:
        return await relay.relay(runtime)

    jobs: dict[str, Job] = {RELAY: outbox_relay, **wiring.jobs(runtime)}
    return {
        name: broker.register_task(_timed(runtime, name, function), task_name=name) for name, function in jobs.items()
    }


def counted_job(runtime: Runtime, name: str, work: Callable[[str, str], Awaitable[None]], item: str) -> Job:
    """`work(item_id, token)` as job `name`: frees its slot when it ends, and ends quietly when shutdown cuts it off.

    `item` names the ID in the shutdown log line (`delivery_id`, `message_id`).
    """

    async def job(item_id: str, token: str) -> None:
        try:
            await work(item_id, token)
        except asyncio.CancelledError:
            # Cut off by shutdown: the lease expires and the work is retried. taskiq would log the
            # cancellation as an error with a traceback (it catches BaseException), so end quietly.
            if not runtime.stopping:
                raise
            log.info("job_interrupted_by_shutdown", job=name, **{item: item_id})
        finally:
            runtime.finished(name)

    return job


def _timed(runtime: Runtime, name: str, function: Job) -> Job:
    """`function`, observed in `shipyard_job_duration_seconds{job, outcome}` (taskiq reads its signature)."""

    @functools.wraps(function)
    async def timed(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401 - the job's own arguments and result
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await function(*args, **kwargs)
        except asyncio.CancelledError:
            outcome = "interrupted"
            raise
        else:
            outcome = "succeeded"
            return result
        finally:
            runtime.metrics.job_duration.labels(job=name, outcome=outcome).observe(time.perf_counter() - started)

    return timed
