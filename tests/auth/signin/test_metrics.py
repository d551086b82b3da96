"""`shipyard_sign_ins_total` counts finished sign-ins by provider, result and reason."""

# ruff: noqa: F811 - test parameters name the pytest fixtures imported from tests/fixtures/signin.py

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from prometheus_client import CollectorRegistry

from tests.fixtures.signin import (  # noqa: F401 - fixtures are found by the names a module holds
    CALLBACK_URL,
    Browser,
    browser,
    oidc_provider,
    query_of,
    session_store_kind,
    signin_app,
    signin_redis_server,
    signin_settings,
)


def _sign_ins(app: Any, **labels: str) -> float:
    registry: CollectorRegistry = app.state.metrics.registry
    return sum(
        sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == "shipyard_sign_ins_total" and labels.items() <= sample.labels.items()
    )


async def test_a_sign_in_and_a_refused_callback_are_counted(browser: Browser, signin_app: Any) -> None:
    assert _sign_ins(signin_app) == 0
    signed_in = await browser.sign_in("alice")
    assert signed_in.status_code == 303, signed_in.text
    assert _sign_ins(signin_app, result="success", reason="") == 1
    callback = await browser.authorize("alice")
    forged = f"{CALLBACK_URL}?{urlencode({**query_of(callback), 'state': secrets.token_urlsafe(32)})}"
    assert (await browser.callback(forged)).status_code == 400
    assert _sign_ins(signin_app, result="failure", reason="state_mismatch", provider="none") == 1
    assert _sign_ins(signin_app) == 2
    known = {"none", "other"} | {slug for slug, _ in signin_app.state.settings.sign_in_buttons if slug}
    providers = {
        sample.labels["provider"]
        for metric in signin_app.state.metrics.registry.collect()
        for sample in metric.samples
        if sample.name == "shipyard_sign_ins_total"
    }
    assert providers <= known
