"""Every event type Shipyard emits, with what it means (docs/webhooks.md shows example payloads).

The outbox owns the mechanism and the `ping`; each domain declares the events it emits in its own
`catalogue.py`, and the composition layer (`shipyard/domains.py`) installs them here once, at import
(decision 0055). `EVENT_TYPES` and `SUBSCRIBABLE` are filled in place, so a module that imported
them before the installation still sees every type.
"""

from __future__ import annotations

from collections.abc import Iterable

PING = "ping"
_PING_MEANING = "A test event, sent on request to one endpoint only."

EVENT_TYPES: dict[str, str] = {PING: _PING_MEANING}

# What an endpoint can subscribe to: `*` means every type, present and future (ping excepted).
SUBSCRIBABLE: set[str] = {"*"}


def install(declared: Iterable[tuple[str, str]]) -> None:
    """Make the declared (type, meaning) pairs, and `ping`, the types Shipyard emits; once per process."""
    pairs = list(declared)
    names = [name for name, _ in pairs]
    if duplicated := sorted({name for name in names if names.count(name) > 1 or name == PING}):
        msg = f"event types declared twice: {', '.join(duplicated)}"
        raise ValueError(msg)
    event_types = dict(pairs)
    EVENT_TYPES.clear()
    EVENT_TYPES.update(event_types)
    EVENT_TYPES[PING] = _PING_MEANING
    SUBSCRIBABLE.clear()
    SUBSCRIBABLE.update({*event_types, "*"})


def subscribed(event_types: list[str], event_type: str) -> bool:
    """Whether an endpoint listening to `event_types` receives `event_type`."""
    return event_type in event_types or ("*" in event_types and event_type != PING)
