"""Typed access to what the app builds once, for the code in `kit` (decision 0039).

The app's state is one object, `shipyard.app.AppState`, built by `create_app` and filled with the
resources its lifespan opens. It sits in the composition layer because its fields' types come from
every layer; a lower layer may not import it (docs/conventions.md). So each layer names what it
reads from it as a protocol beside its own code (`KitState` here, `IdentityState` in identity,
`SignInState` in auth), and `app.py` proves to the type checker that `AppState` satisfies each one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from shipyard.kit.db import Database
    from shipyard.kit.idempotency import IdempotencyStore
    from shipyard.kit.metrics import HttpMetrics
    from shipyard.kit.rate_limit import RateLimiter
    from shipyard.settings import Settings


class KitState(Protocol):
    """What kit reads from the app's state: settings and metrics from `create_app`, the rest from the lifespan."""

    settings: Settings
    metrics: HttpMetrics | None
    database: Database
    idempotency: IdempotencyStore
    rate_limiter: RateLimiter


def kit_state(app: Starlette) -> KitState:
    """The app's state as kit sees it (`app` is the Starlette app: `request.app`, `scope["app"]`)."""
    # A cast, not a check: `app.py` proves statically that its `AppState` is a `KitState`, and an
    # isinstance check against a protocol would cost microseconds on every request.
    return cast("KitState", app.state)
