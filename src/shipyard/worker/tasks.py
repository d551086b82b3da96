"""The job registry: every taskiq task, named `<domain>.<action>`, bound to one runtime."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask

from shipyard.auth.sessions.database_store import prune_expired as prune_expired_sessions
from shipyard.email import tasks as email_tasks
from shipyard.kit.idempotency import IdempotencyStore
from shipyard.kit.logging import get_logger
from shipyard.models.base import utcnow
from shipyard.webhooks import tasks as webhook_tasks
from shipyard.worker import relay
from shipyard.worker import repository as worker_repository

if TYPE_CHECKING:
    from shipyard.worker.runtime import Runtime

log = get_logger("shipyard.worker")
RELAY = "outbox.relay"
REMINDERS = "email.reminders"
PRUNE = "jobs.prune"
RUNS_KEPT = timedelta(days=7)
# Jobs that hold a unit of the worker's concurrency while they run (the in-process transport counts them).
COUNTED = frozenset({relay.DELIVER, relay.SEND_EMAIL})

Tasks = dict[str, AsyncTaskiqDecoratedTask[Any, Any]]


def register(broker: AsyncBroker, runtime: Runtime) -> Tasks:
    """Register every job on `broker`, each closing over `runtime` (no module-level state)."""

    async def outbox_relay() -> int:
        return await relay.relay(runtime)

    async def deliver(delivery_id: str, token: str) -> None:
        try:
            await webhook_tasks.deliver(runtime, delivery_id, token)
        except asyncio.CancelledError:
            # Cut off by shutdown: the lease expires and the delivery is retried. taskiq would log
            # the cancellation as an error with a traceback (it catches BaseException), so end quietly.
            if not runtime.stopping:
                raise
            log.info(
                "job_interrupted_by_shutdown",
                job=relay.DELIVER,
                delivery_id=delivery_id,
            )
        finally:
            runtime.finished(relay.DELIVER)

    async def send_email(message_id: str, token: str) -> None:
        try:
            await email_tasks.send(runtime, message_id, token)
        except asyncio.CancelledError:
            if not runtime.stopping:
                raise
            log.info(
                "job_interrupted_by_shutdown",
                job=relay.SEND_EMAIL,
                message_id=message_id,
            )
        finally:
            runtime.finished(relay.SEND_EMAIL)

    async def reminders() -> int:
        return await email_tasks.reminders(runtime)

    async def prune() -> int:
        settings = runtime.settings
        store = IdempotencyStore(
            runtime.database.writer,
            ttl=timedelta(hours=settings.idempotency_ttl_hours),
            lock=timedelta(seconds=settings.idempotency_lock_s),
        )
        keys = await store.prune()
        async with runtime.database.writer() as session:
            runs = await worker_repository.prune_runs(session, utcnow() - RUNS_KEPT)
            await session.commit()
        # Expired sessions and abandoned sign-ins of the database store (Redis expires its own keys).
        sessions = await prune_expired_sessions(runtime.database.writer)
        log.info("pruned", idempotency_keys=keys, periodic_runs=runs, sessions=sessions)
        return keys

    jobs: dict[str, Callable[..., Awaitable[Any]]] = {
        RELAY: outbox_relay,
        relay.DELIVER: deliver,
        relay.SEND_EMAIL: send_email,
        REMINDERS: reminders,
        PRUNE: prune,
    }
    return {
        name: broker.register_task(_timed(runtime, name, function), task_name=name) for name, function in jobs.items()
    }


def _timed(runtime: Runtime, name: str, function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
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
