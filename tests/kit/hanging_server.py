"""A real Shipyard server whose `POST /api/v1/customers` never returns, to be killed mid-request.

Run as `python -m uvicorn --factory tests.kit.hanging_server:build`, configured by the environment
like any Shipyard process. The request claims its Idempotency-Key in the unit of work, as a real
create would, then hangs before touching the database.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from fastapi.routing import APIRoute

from shipyard.app import create_app
from shipyard.customers.schemas import CustomerCreate
from shipyard.identity.auth import CustomersWrite
from shipyard.settings import Settings

ENTERED = "hanging_request_entered"


def build() -> FastAPI:
    """The app, with the customer create replaced by one that hangs."""
    app = create_app(Settings())

    async def hang(body: CustomerCreate, principal: CustomersWrite) -> None:  # noqa: ARG001 - parsed like a create
        print(ENTERED, flush=True)  # noqa: T201 - the test reads the server's output
        await asyncio.Event().wait()

    # First in the list: routing matches it before the real create, on the same path and method.
    app.router.routes.insert(0, APIRoute("/api/v1/customers", hang, methods=["POST"]))
    return app
