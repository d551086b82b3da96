"""The delivery job's database work, done for many jobs in one transaction: taking leases, recording outcomes.

Each `webhooks.deliver` job still sends one request and is acknowledged on its own (on Redis, one
message per delivery), but the jobs a worker runs at once share their transactions through
`worker.coalesce.Coalescer`: one UPDATE takes the leases of every job waiting to start, and one
transaction records the results of every job waiting to finish. A job returns only after its
result is committed, so a worker killed at any point loses nothing it acknowledged; a request it
had sent is sent again once the lease runs out (at least once, the `webhook-id` unchanged).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from shipyard.models import WebhookDelivery
from shipyard.models.base import utcnow
from shipyard.webhooks import delivery as http_delivery
from shipyard.webhooks import outcomes, repository
from shipyard.webhooks import service as webhook_service
from shipyard.webhooks.ssrf import Target
from shipyard.worker import repository as leases
from shipyard.worker.context import job_context

if TYPE_CHECKING:
    from shipyard.webhooks.tasks import DeliveryJobContext

JOB = "webhooks.deliver"
# The lease outlives the request's timeout by this much, so a slow but live worker is never presumed dead.
RUN_MARGIN_S = 5.0


@dataclass(frozen=True, slots=True)
class Taken:
    """A delivery this worker now holds (under `mine`), ready to send."""

    delivery_id: str
    mine: str
    attempt: int
    request_id: str | None
    message: http_delivery.Message
    # The SSRF guard's answer for the URL, given once per batch and URL.
    checked: Target | http_delivery.Outcome


@dataclass(frozen=True, slots=True)
class Attempted:
    """What one request of a held delivery brought back."""

    taken: Taken
    outcome: http_delivery.Outcome
    started_at: datetime


@dataclass(frozen=True, slots=True)
class Recorded:
    """The delivery's status after the attempt, and why its endpoint was disabled, if it was."""

    status: str
    disabled: str | None


async def take(context: DeliveryJobContext, claims: list[tuple[str, str]]) -> list[Taken | None]:
    """Take every `(delivery_id, relay token)` claim that is still ours to send; None for the others.

    A delivery whose endpoint was disabled or deleted meanwhile is failed here, unsent.
    """
    settings = context.settings
    now = utcnow()
    mine = secrets.token_hex(16)
    until = now + timedelta(seconds=max(settings.jobs_run_lease_s, settings.webhook_timeout_s + RUN_MARGIN_S))
    ready: dict[str, tuple[int, str | None, http_delivery.Message]] = {}
    async with context.writer() as session:
        rows = await leases.take_many(session, WebhookDelivery, claims, mine=mine, now=now, until=until)
        endpoints = await repository.endpoints_by_ids(session, {row.endpoint_id for row in rows})
        events = await repository.events_by_ids(session, {row.event_id for row in rows})
        signing: dict[str, list[str]] = {}
        for row in rows:
            endpoint, event = endpoints.get(row.endpoint_id), events.get(row.event_id)
            if endpoint is None or event is None or not endpoint.enabled:
                outcomes.abandon(row, "endpoint disabled before delivery", now)
                continue
            if endpoint.id not in signing:
                signing[endpoint.id] = webhook_service.signing_secrets(endpoint, context.webhooks.box, now)
            message = http_delivery.Message(
                event_id=event.id,
                event_type=event.type,
                created_at=event.created_at,
                data=event.payload,
                url=endpoint.url,
                secrets=signing[endpoint.id],
                loopback=webhook_service.may_reach_loopback(endpoint, settings),
            )
            ready[row.id] = (row.attempts, row.request_id, message)
        await session.commit()
    checked = {
        (url, loopback): await http_delivery.check(context.webhooks.guard, url, loopback=loopback)
        for url, loopback in {(message.url, message.loopback) for _, _, message in ready.values()}
    }
    taken: list[Taken | None] = []
    for delivery_id, _ in claims:
        # A delivery claimed twice in one batch (a re-sent message) is sent by the first claim only.
        found = ready.pop(delivery_id, None)
        if found is None:
            taken.append(None)
            continue
        attempt, request_id, message = found
        target = checked[message.url, message.loopback]
        taken.append(Taken(delivery_id, mine, attempt, request_id, message, target))
    return taken


async def record(context: DeliveryJobContext, attempts: list[Attempted]) -> list[Recorded | None]:
    """Record each attempt whose delivery this worker still holds; None where its lease was taken over."""
    now = utcnow()
    results: list[Recorded | None] = []
    async with context.writer() as session:
        held = await leases.held_many(session, WebhookDelivery, [(a.taken.delivery_id, a.taken.mine) for a in attempts])
        endpoints = await repository.endpoints_by_ids(session, {row.endpoint_id for row in held.values()})
        for attempt in attempts:
            delivery = held.pop(attempt.taken.delivery_id, None)
            endpoint = endpoints.get(delivery.endpoint_id) if delivery is not None else None
            if delivery is None or endpoint is None:
                # Presumed dead and replaced (or the endpoint was deleted): the successor's result stands.
                results.append(None)
                continue
            # In the delivery's own request context: disabling its endpoint is audited under that request ID.
            with job_context(JOB, attempt.taken.request_id, delivery_id=delivery.id):
                disabled = await outcomes.record(
                    session, delivery, endpoint, attempt.outcome, context.retry, started_at=attempt.started_at, now=now
                )
            results.append(Recorded(delivery.status, disabled))
        await session.commit()
    return results
