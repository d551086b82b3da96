"""Token verification: the checksum gate before any lookup, and the short, bounded in-process cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import event

from shipyard.identity import token_format
from tests.fixtures.log_capture import production_logs
from tests.fixtures.records import audit_events, set_token_columns, token_row
from tests.fixtures.sqlite_lock import database_locked
from tests.fixtures.tenants import Tenant, create_tenant, issue_token

REVOCATION_DEADLINE_S = 5.5


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def _statements(app: Any) -> Iterator[list[str]]:
    """Every SQL statement the app sends while the block runs."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    database = app.state.database
    engines = {id(engine.sync_engine): engine.sync_engine for engine in (database.engine, database.write_engine)}
    for engine in engines.values():
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines.values():
            event.remove(engine, "before_cursor_execute", record)


async def test_wrong_checksum_is_refused_without_looking_the_token_up(
    client: httpx.AsyncClient, app: Any, tenant: Tenant
) -> None:
    secret, token_id = await issue_token(app, tenant, ["customers:read"])
    prefix, random_part, checksum = secret.split("_")
    forged = f"{prefix}_{random_part}_{'A' if checksum[0] != 'A' else 'B'}{checksum[1:]}"
    # A row that *would* accept the forged token if it were ever looked up.
    await set_token_columns(app, token_id, token_hash=token_format.hash_token(forged))
    app.state.authenticator.forget()

    with _statements(app) as statements:
        response = await client.get("/api/v1/me", headers=_bearer(forged))

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
    assert [s for s in statements if "api_tokens" in s] == []
    [rejected] = await audit_events(app, action="auth.token_rejected")
    assert rejected.details == {"reason": "malformed_token"}


async def test_valid_token_is_looked_up_once_per_cache_period(
    client: httpx.AsyncClient, app: Any, tenant: Tenant
) -> None:
    app.state.authenticator.forget()
    with _statements(app) as statements:
        for _ in range(5):
            assert (await client.get("/api/v1/me", headers=tenant.headers)).status_code == 200
    lookups = [s for s in statements if "api_tokens" in s and s.lstrip().upper().startswith("SELECT")]
    assert len(lookups) == 1


async def test_requests_that_miss_the_cache_together_share_one_lookup(
    client: httpx.AsyncClient, app: Any, tenant: Tenant
) -> None:
    app.state.authenticator.forget()
    with _statements(app) as statements:
        responses = await asyncio.gather(*(client.get("/api/v1/me", headers=tenant.headers) for _ in range(10)))
    assert [response.status_code for response in responses] == [200] * 10
    lookups = [s for s in statements if "api_tokens" in s and s.lstrip().upper().startswith("SELECT")]
    assert len(lookups) == 1


async def _refused_within(client: httpx.AsyncClient, secret: str, since: float, deadline_s: float) -> float:
    """Poll until the token is refused; the seconds it took after `since`."""
    while True:
        response = await client.get("/api/v1/me", headers=_bearer(secret))
        elapsed = time.monotonic() - since
        if response.status_code == 401:
            assert response.json()["code"] == "invalid_token"
            return elapsed
        assert response.status_code == 200, response.text
        assert elapsed <= deadline_s, f"still accepted {elapsed:.1f}s after revocation"
        await asyncio.sleep(0.1)


async def test_revocation_outside_this_process_takes_effect_within_the_cache_ttl(
    client: httpx.AsyncClient, app: Any, tenant: Tenant
) -> None:
    assert app.state.settings.token_cache_ttl_s == 5.0
    secret, token_id = await issue_token(app, tenant, ["customers:read"])
    assert (await client.get("/api/v1/me", headers=_bearer(secret))).status_code == 200

    await set_token_columns(app, token_id, revoked_at=datetime.now(UTC))
    revoked = time.monotonic()
    # Still served from the cache: this process has not seen the change yet ...
    assert (await client.get("/api/v1/me", headers=_bearer(secret))).status_code == 200
    # ... but only for the rest of the cache period.
    elapsed = await _refused_within(client, secret, revoked, REVOCATION_DEADLINE_S)
    assert elapsed <= REVOCATION_DEADLINE_S

    reasons = [e.details["reason"] for e in await audit_events(app, action="auth.token_rejected")]
    assert reasons == ["token_revoked"]


async def test_a_locked_database_does_not_fail_a_read_over_its_last_used_write(impatient_app: Any) -> None:
    tenant = await create_tenant(impatient_app, "Acme", "acme")
    transport = httpx.ASGITransport(app=impatient_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        with database_locked(impatient_app), production_logs("WARNING") as logs:
            response = await client.get("/api/v1/customers", headers=tenant.headers)
        assert response.status_code == 200, response.text
        (warning,) = logs.events("token_last_used_not_recorded")
        assert (warning["token_id"], warning["exc_type"]) == (tenant.token_id, "OperationalError")

    assert (await token_row(impatient_app, tenant.token_id)).last_used_at is None  # this use went unrecorded
