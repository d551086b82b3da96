"""The outbox relay: claims due work from the database in small batches and hands it to the broker.

One pass, in one transaction: fan new events out to webhook deliveries, then lease due
deliveries and emails (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so relays in many processes
never take the same row). The broker gets the work only after that transaction commits. A lease
that is never picked up (a lost message, a Redis restart) expires and the row is due again, so
the broker is only the transport: the database is the truth.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from shipyard.events import repository as event_repository
from shipyard.models import EmailMessage, WebhookDelivery
from shipyard.models.base import utcnow
from shipyard.webhooks import service as webhook_service
from shipyard.worker import repository as leases

if TYPE_CHECKING:
    from shipyard.worker.runtime import Runtime

DELIVER = "webhooks.deliver"
SEND_EMAIL = "email.send"


@dataclass(frozen=True, slots=True)
class Batch:
    """What one pass claimed."""

    token: str
    events: int
    deliveries: list[str]
    emails: list[str]

    @property
    def size(self) -> int:
        """Rows this pass touched."""
        return self.events + len(self.deliveries) + len(self.emails)


async def claim_batch(runtime: Runtime, limit: int) -> Batch:
    """One committed pass over the outbox, taking at most `limit` rows of each kind."""
    now = utcnow()
    token = secrets.token_hex(16)
    until = now + timedelta(seconds=runtime.settings.jobs_queue_lease_s)
    async with runtime.database.writer() as session:
        events = await event_repository.claim_undispatched(session, limit)
        if events:
            await webhook_service.fan_out(session, events, now=now)
        deliveries = await leases.lease_due(session, WebhookDelivery, now=now, until=until, token=token, limit=limit)
        emails = await leases.lease_due(session, EmailMessage, now=now, until=until, token=token, limit=limit)
        await session.commit()
    runtime.metrics.lease_expiries.labels(queue=DELIVER).inc(deliveries.expired)
    runtime.metrics.lease_expiries.labels(queue=SEND_EMAIL).inc(emails.expired)
    return Batch(token=token, events=len(events), deliveries=deliveries.ids, emails=emails.ids)


async def relay(runtime: Runtime, *, max_batches: int = 20) -> int:
    """Pass over the outbox until it is drained, capacity runs out, or `max_batches` passes ran."""
    total = 0
    for _ in range(max_batches):
        limit = min(runtime.settings.jobs_batch_size, runtime.capacity())
        if limit <= 0:
            break
        batch = await claim_batch(runtime, limit)
        for delivery_id in batch.deliveries:
            await runtime.enqueue(DELIVER, delivery_id, batch.token)
        for message_id in batch.emails:
            await runtime.enqueue(SEND_EMAIL, message_id, batch.token)
        total += batch.size
        if batch.size == 0:
            break
    return total
