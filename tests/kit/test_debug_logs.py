"""Bound SQL values (credentials, row data) reach no log: not at DEBUG, not in a database error's message."""

# ruff: noqa: F811 - test parameters name the pytest fixtures imported from tests/fixtures/signin.py

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from shipyard.auth.oidc.schemas import VerifiedLogin
from shipyard.kit.db import create_database
from shipyard.settings import Settings
from tests.fixtures.log_capture import production_logs
from tests.fixtures.signin import (  # noqa: F401 - fixtures are found by the names a module holds
    Browser,
    browser,
    oidc_provider,
    session_store_kind,
    signin_app,
    signin_redis_server,
    signin_settings,
)


async def test_a_sign_in_at_debug_level_logs_no_id_token_verifier_or_nonce(
    browser: Browser, signin_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = signin_app.state.oidc
    complete = client.complete
    used: dict[str, str] = {}

    async def remembering_complete(*, code: str, code_verifier: str, nonce: str) -> VerifiedLogin:
        login: VerifiedLogin = await complete(code=code, code_verifier=code_verifier, nonce=nonce)
        used.update(code_verifier=code_verifier, nonce=nonce, id_token=login.id_token)
        return login

    monkeypatch.setattr(client, "complete", remembering_complete)
    callback = await browser.authorize("alice")

    with production_logs("DEBUG") as logs:
        assert (await browser.callback(callback)).status_code == 303

    assert set(used) == {"code_verifier", "nonce", "id_token"}
    assert len(logs.raw_lines()) > 10  # DEBUG was on: the libraries did log
    for name, value in used.items():
        # The ID token's signature alone is enough to recognise it, whatever part of it is printed.
        needle = value.rsplit(".", 1)[-1] if name == "id_token" else value
        assert needle not in logs.text, f"the {name} reached the log"
    assert "eyJ" not in logs.text


async def test_a_database_error_names_the_statement_but_not_its_values(settings: Settings) -> None:
    database = create_database(settings)
    planted = "planted-verifier-Zq8Xw3"
    try:
        async with database.writer() as session:
            with pytest.raises(DBAPIError) as failed:
                await session.execute(text("SELECT * FROM no_such_table WHERE value = :value"), {"value": planted})
    finally:
        await database.dispose()
    # The message goes to the error log with its traceback, and (scrubbed) to the error reports.
    assert "no_such_table" in str(failed.value)
    assert planted not in str(failed.value)
