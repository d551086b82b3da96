"""Every route whose answer holds a secret declares it, so the request boundary withholds it."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from shipyard.kit.secret_response import CarriesSecret

# Field names that hold a credential shown once. A CSRF token is not one: it is read back on every GET
# of /api/v1/me and is useless without the session cookie.
SECRET_FIELDS = frozenset({"secret", "token", "password", "private_key", "client_secret", "api_key"})


def _models(model: object) -> list[type[BaseModel]]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        nested = [inner for field in model.model_fields.values() for inner in _models(field.annotation)]
        return [model, *nested]
    return [inner for arg in getattr(model, "__args__", ()) for inner in _models(arg)]


def test_every_route_returning_a_secret_declares_it(app: FastAPI) -> None:
    undeclared = []
    declared = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.response_model is None:
            continue
        holders = [m for m in _models(route.response_model) if SECRET_FIELDS & set(m.model_fields)]
        if holders:
            declared.append(route.path)
        if holders and not issubclass(route.response_model, CarriesSecret):
            undeclared.append(f"{sorted(route.methods)} {route.path}")
    assert undeclared == []
    # The check saw the routes it is about (it would pass vacuously if it saw none).
    assert {
        "/api/v1/tokens",
        "/api/v1/webhook-endpoints",
        "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
    } <= set(declared)
