"""Response models that carry a secret shown once, and how the request boundary recognises them.

A route declares that its answer holds a secret (a new API token, a webhook signing secret) by
using a response model derived from `CarriesSecret`; nothing else is needed. The unit of work then
marks the response `Cache-Control: no-store`, so no cache along the way keeps it, and never stores
it for an Idempotency-Key replay (a replay answers 409 `idempotency_response_withheld`). Deciding it
from the model, in one place, means a new secret-bearing route cannot forget either.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

if TYPE_CHECKING:
    from starlette.types import Scope


class CarriesSecret(BaseModel):
    """Base of every response model whose body holds a secret that is shown only once."""


def route_returns_secret(scope: Scope) -> bool:
    """Whether the route that routing matched for this request declares a secret-bearing response."""
    model = getattr(scope.get("route"), "response_model", None)
    return isinstance(model, type) and issubclass(model, CarriesSecret)
