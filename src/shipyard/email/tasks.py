"""Email jobs: `email.send` (one message) and `email.reminders` (the daily overdue-invoice run)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from aiosmtplib import SMTPException
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shipyard.email import service as email_service
from shipyard.email.messages import to_mime
from shipyard.email.sender import Sender
from shipyard.kit.logging import get_logger
from shipyard.models import EmailMessage, WorkStatus
from shipyard.models.base import utcnow
from shipyard.settings import Settings
from shipyard.worker import repository as leases
from shipyard.worker.context import job_context

log = get_logger("shipyard.email")
SEND = "email.send"
REMINDERS = "email.reminders"


@dataclass(frozen=True, slots=True)
class EmailJobContext:
    """What the email jobs need, and nothing more of the job runtime."""

    settings: Settings
    writer: async_sessionmaker[AsyncSession]
    sender: Sender


async def send(context: EmailJobContext, message_id: str, token: str) -> None:
    """Send one queued message if this job holds it; retry on the email schedule, then give up."""
    settings = context.settings
    now = utcnow()
    mine = secrets.token_hex(16)
    async with context.writer() as session:
        message = await leases.take(
            session,
            EmailMessage,
            message_id,
            token=token,
            mine=mine,
            now=now,
            until=now + timedelta(seconds=max(settings.jobs_run_lease_s, settings.smtp_timeout_s * 2)),
        )
        if message is None:
            return
        mime = to_mime(message, settings.email_from)
        request_id, attempt = message.request_id, message.attempts
        await session.commit()
    with job_context(SEND, request_id, email_id=message_id, attempt=attempt):
        error: str | None = None
        try:
            await context.sender.send(mime)
        except (SMTPException, OSError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        async with context.writer() as session:
            held = await leases.held(session, EmailMessage, message_id, mine)
            if held is None:
                log.warning("email_lease_lost")
                return
            _settle(held, error, settings.email_retry_schedule_s)
            await session.commit()
        log.info("email_attempt", status=held.status, error=error, kind=held.kind)


def _settle(message: EmailMessage, error: str | None, schedule: list[float]) -> None:
    now = utcnow()
    message.lease_token = None
    message.leased_until = None
    message.last_error = error
    if error is None:
        message.status = WorkStatus.SUCCEEDED
        message.sent_at = now
    elif message.attempts < len(schedule):
        message.next_attempt_at = now + timedelta(seconds=schedule[message.attempts])
    else:
        message.status = WorkStatus.FAILED


async def reminders(context: EmailJobContext) -> int:
    """Queue today's reminders for overdue open invoices (once per invoice per day)."""
    with job_context(REMINDERS, None):
        today, queued, after_id = utcnow().date(), 0, None
        while True:  # a transaction per batch: a large backlog holds no long-lived locks
            async with context.writer() as session:
                batch, after_id = await email_service.queue_reminder_batch(session, today, after_id)
                await session.commit()
            queued += batch
            if after_id is None:
                break
        log.info("invoice_reminders_queued", count=queued)
        return queued
