"""The drain marker: /ready answers 503 `draining` while it exists; /health names the release."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from shipyard.app import create_app
from shipyard.kit.draining import is_draining, set_draining
from shipyard.settings import Settings
from tests.fixtures.lifespan import running_lifespan


async def test_ready_answers_draining_while_the_marker_exists(app: FastAPI, client: httpx.AsyncClient) -> None:
    data_dir = app.state.settings.data_dir
    assert (await client.get("/ready")).status_code == 200

    set_draining(data_dir, on=True)
    draining = await client.get("/ready")
    set_draining(data_dir, on=True)  # idempotent
    still = await client.get("/ready")
    health = await client.get("/health")
    set_draining(data_dir, on=False)
    set_draining(data_dir, on=False)  # idempotent
    back = await client.get("/ready")

    assert draining.status_code == 503
    assert draining.headers["Content-Type"].startswith("application/problem+json")
    assert draining.json()["code"] == "draining"
    assert draining.headers["Retry-After"] == "5"
    assert still.status_code == 503
    assert health.status_code == 200, "draining takes the host out of rotation; it is still alive"
    assert back.status_code == 200
    assert not is_draining(data_dir)


async def test_health_names_the_release_only_when_one_is_set(settings: Settings) -> None:
    application = create_app(settings.model_copy(update={"release": "4f2c9e1"}))
    async with running_lifespan(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            named = await client.get("/health")
    assert named.json() == {"status": "ok", "release": "4f2c9e1"}


async def test_health_without_a_release_is_unchanged(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
