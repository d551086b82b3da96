"""The one place that knows every domain's jobs: it wires them into the job runtime (composition layer).

`worker/` is a toolkit that imports no domain; each domain's job takes a small typed context of its
own (`DeliveryJobContext`, `EmailJobContext`), built here from the runtime. A new domain's job is a
line in `_jobs` (and, if the scheduler runs it, in `_periodic`).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial

from fastapi import FastAPI

from shipyard.auth.sessions.database_store import prune_expired as prune_expired_sessions
from shipyard.backup.operations import scheduled_backup
from shipyard.email import tasks as email_tasks
from shipyard.email.sender import sender_for
from shipyard.events import repository as event_repository
from shipyard.kit.app_state import kit_state
from shipyard.kit.logging import get_logger
from shipyard.models import EmailMessage, WebhookDelivery
from shipyard.models.base import utcnow
from shipyard.settings import Settings
from shipyard.webhooks import service as webhook_service
from shipyard.webhooks import tasks as webhook_tasks
from shipyard.webhooks.retry import RetryPolicy
from shipyard.webhooks.service import WebhookConfig
from shipyard.worker import repository as worker_repository
from shipyard.worker.metrics import JobMetrics
from shipyard.worker.relay import Claimed
from shipyard.worker.runtime import Runtime, running
from shipyard.worker.scheduler import PeriodicJob
from shipyard.worker.tasks import Job, JobWiring, counted_job

log = get_logger("shipyard.worker")
DELIVER = webhook_tasks.JOB
SEND_EMAIL = email_tasks.SEND
REMINDERS = email_tasks.REMINDERS
PRUNE = "jobs.prune"
BACKUP_DAILY = "backup.daily"
RUNS_KEPT = timedelta(days=7)


def delivery_job_context(runtime: Runtime) -> webhook_tasks.DeliveryJobContext:
    """What the webhook delivery job gets from this runtime."""
    settings = runtime.settings
    return webhook_tasks.DeliveryJobContext(
        settings=settings,
        writer=runtime.database.writer,
        http=runtime.http,
        webhooks=WebhookConfig.from_settings(settings),
        retry=RetryPolicy.from_settings(settings),
        metrics=runtime.metrics,
    )


def email_job_context(runtime: Runtime) -> email_tasks.EmailJobContext:
    """What the email jobs get from this runtime."""
    settings = runtime.settings
    return email_tasks.EmailJobContext(settings=settings, writer=runtime.database.writer, sender=sender_for(settings))


def _jobs(runtime: Runtime) -> Mapping[str, Job]:
    delivery = delivery_job_context(runtime)
    email = email_job_context(runtime)

    async def reminders() -> int:
        return await email_tasks.reminders(email)

    async def prune() -> int:
        return await _prune(runtime)

    return {
        DELIVER: counted_job(runtime, DELIVER, webhook_tasks.DeliveryJob(delivery), "delivery_id"),
        SEND_EMAIL: counted_job(runtime, SEND_EMAIL, partial(email_tasks.send, email), "message_id"),
        REMINDERS: reminders,
        PRUNE: prune,
    }


async def _prune(runtime: Runtime) -> int:
    keys = await runtime.idempotency.prune()
    async with runtime.database.writer() as session:
        runs = await worker_repository.prune_runs(session, utcnow() - RUNS_KEPT)
        await session.commit()
    # Expired sessions and abandoned sign-ins of the database store (Redis expires its own keys).
    sessions = await prune_expired_sessions(runtime.database.writer)
    log.info("pruned", idempotency_keys=keys, periodic_runs=runs, sessions=sessions)
    return keys


async def _claim(runtime: Runtime, limit: int) -> Claimed:
    """Fan new events out to webhook deliveries, then lease due deliveries and emails, in one transaction."""
    now = utcnow()
    token = secrets.token_hex(16)
    until = now + timedelta(seconds=runtime.settings.jobs_queue_lease_s)
    async with runtime.database.writer() as session:
        events = await event_repository.claim_undispatched(session, limit)
        if events:
            await webhook_service.fan_out(session, events, now=now)
        lease = partial(worker_repository.lease_due, session, now=now, until=until, token=token, limit=limit)
        deliveries = await lease(WebhookDelivery)
        emails = await lease(EmailMessage)
        await session.commit()
    runtime.metrics.lease_expiries.labels(queue=DELIVER).inc(deliveries.expired)
    runtime.metrics.lease_expiries.labels(queue=SEND_EMAIL).inc(emails.expired)
    jobs = [(DELIVER, delivery_id) for delivery_id in deliveries.ids]
    jobs += [(SEND_EMAIL, message_id) for message_id in emails.ids]
    return Claimed(token=token, size=len(events) + len(jobs), jobs=jobs)


def _periodic(runtime: Runtime) -> list[PeriodicJob]:
    """Reminders daily, pruning hourly and, with SHIPYARD_BACKUP_DIR on SQLite, the daily backup."""
    jobs = [
        PeriodicJob(REMINDERS, timedelta(days=1), lambda: runtime.enqueue(REMINDERS)),
        PeriodicJob(PRUNE, timedelta(hours=1), lambda: runtime.enqueue(PRUNE)),
    ]
    settings = runtime.settings
    if settings.backup_dir is not None and settings.is_sqlite:
        # Run by the scheduler itself, not a worker: one file, one writer of it, once a day.
        jobs.append(PeriodicJob(BACKUP_DAILY, timedelta(days=1), lambda: scheduled_backup(settings)))
    return jobs


WIRING = JobWiring(jobs=_jobs, counted=frozenset({DELIVER, SEND_EMAIL}), claim=_claim, periodic=_periodic)


@asynccontextmanager
async def embedded(app: FastAPI) -> AsyncIterator[Runtime]:
    """For the app's lifespan: jobs in-process without REDIS_URL, a producer for the Redis workers with it."""
    state = kit_state(app)
    settings: Settings = state.settings
    metrics = getattr(app.state, "job_metrics", None)
    if metrics is None:
        metrics = JobMetrics(state.metrics.registry if state.metrics is not None else None)
        app.state.job_metrics = metrics
    here = settings.jobs_run_embedded
    # The app's own idempotency store: one per process (decision 0039).
    async with running(
        settings,
        state.database,
        wiring=WIRING,
        work=here,
        schedule=here,
        metrics=metrics,
        idempotency=state.idempotency,
    ) as runtime:
        app.state.jobs = runtime
        yield runtime
