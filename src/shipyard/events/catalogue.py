"""Every event type Shipyard emits, with what it means (docs/webhooks.md shows example payloads)."""

from __future__ import annotations

PING = "ping"

EVENT_TYPES: dict[str, str] = {
    "customer.created": "A customer was created.",
    "customer.updated": "A customer's name, email or metadata changed.",
    "customer.archived": "A customer was archived.",
    "invoice.created": "A draft invoice was created.",
    "invoice.finalized": "A draft invoice was finalized: it is open and numbered for good.",
    "invoice.paid": "An open invoice was marked paid.",
    "invoice.voided": "An open invoice was voided.",
    PING: "A test event, sent on request to one endpoint only.",
}

# What an endpoint can subscribe to: `*` means every type, present and future (ping excepted).
SUBSCRIBABLE = frozenset(EVENT_TYPES) - {PING} | {"*"}


def subscribed(event_types: list[str], event_type: str) -> bool:
    """Whether an endpoint listening to `event_types` receives `event_type`."""
    return event_type in event_types or ("*" in event_types and event_type != PING)
