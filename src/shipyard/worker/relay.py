"""The outbox relay: claims due work from the database in small batches and hands it to the broker.

One pass, in one transaction (the claim, which the composition layer wires in: `worker_wiring.py`):
fan new events out to webhook deliveries, then lease due deliveries and emails (`FOR UPDATE SKIP
LOCKED` on PostgreSQL, so relays in many processes never take the same row). The broker gets the
work only after that transaction commits. A lease that is never picked up (a lost message, a Redis
restart) expires and the row is due again, so the broker is only the transport: the database is
the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shipyard.worker.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Claimed:
    """What one pass claimed: the jobs to hand over, in order, and how many rows it touched."""

    token: str
    size: int
    # (job name, item ID): each is enqueued as `job(item_id, token)`.
    jobs: list[tuple[str, str]]


async def relay(runtime: Runtime, *, max_batches: int = 20) -> int:
    """Pass over the outbox until it is drained, capacity runs out, or `max_batches` passes ran."""
    total = 0
    for _ in range(max_batches):
        limit = min(runtime.settings.jobs_batch_size, runtime.capacity())
        if limit <= 0:
            break
        # The claim is the domains' (webhook fan-out, leased deliveries and emails): the wiring supplies it.
        batch = await runtime.wiring.claim(runtime, limit)
        for job, item_id in batch.jobs:
            await runtime.enqueue(job, item_id, batch.token)
        total += batch.size
        if batch.size == 0:
            break
    return total
