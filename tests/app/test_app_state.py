"""The app's state is one typed object, and the app and its job runtime share one idempotency store (issue 11)."""

from __future__ import annotations

from fastapi import FastAPI

from shipyard.app import AppState
from shipyard.auth.app_state import sign_in_state
from shipyard.identity.app_state import identity_state
from shipyard.kit.app_state import kit_state
from shipyard.settings import Settings


async def test_the_state_is_one_app_state_that_every_layer_reads(app: FastAPI, settings: Settings) -> None:
    state = app.state
    assert isinstance(state, AppState)
    assert kit_state(app) is identity_state(app) is sign_in_state(app) is state
    assert state.settings is settings
    assert kit_state(app).database is state.database


async def test_the_job_runtime_prunes_with_the_apps_own_idempotency_store(app: FastAPI) -> None:
    assert app.state.jobs.idempotency is kit_state(app).idempotency
