"""The session store, on the database and on Redis: tokens, lifetimes, rotation, reuse, revocation, logins."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from shipyard.auth.sessions.database_store import DatabaseSessionStore, prune_expired
from shipyard.auth.sessions.redis_store import PREFIX, RedisSessionStore
from shipyard.auth.sessions.store import (
    Lifetimes,
    NewSession,
    Refused,
    Reused,
    Rotated,
    SessionStore,
    hash_token,
    new_token,
)
from shipyard.models import AuthSession, AuthSessionToken, LoginAttempt
from shipyard.models.base import utcnow
from tests.auth.conftest import start_session
from tests.fixtures.servers import RedisServer
from tests.fixtures.tenants import Tenant

ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(hours=24)
MS = timedelta(milliseconds=1)  # Redis keeps times to the millisecond


def _close(actual: datetime, expected: datetime) -> bool:
    return abs(actual - expected) < MS


async def _stored_text(app: Any, store_kind: str) -> str:
    """Everything the store holds, keys and values, as one string."""
    if store_kind == "db":
        async with app.state.database.reader() as session:
            sessions = list(await session.scalars(select(AuthSession)))
            tokens = list(await session.scalars(select(AuthSessionToken)))
        return repr([vars(row) for row in sessions + tokens])
    client = aioredis.Redis.from_url(app.state.settings.redis_url, decode_responses=True)
    try:
        parts = []
        async for key in client.scan_iter(f"{PREFIX}*"):
            parts.append(key)
            kind = await client.type(key)
            parts.append(repr(await (client.hgetall(key) if kind == "hash" else client.smembers(key))))
        return "\n".join(parts)
    finally:
        await client.aclose()


def test_the_store_follows_the_settings(session_store: SessionStore, store_kind: str) -> None:
    expected = DatabaseSessionStore if store_kind == "db" else RedisSessionStore
    assert isinstance(session_store, expected)


async def test_only_hashes_of_tokens_are_stored(session_app: Any, member: Tenant, store_kind: str) -> None:
    issued = await start_session(session_app, member)
    stored = await _stored_text(session_app, store_kind)
    assert issued.session_id in stored
    assert hash_token(issued.access_token) in stored
    assert hash_token(issued.refresh_token) in stored
    assert issued.access_token not in stored
    assert issued.refresh_token not in stored


async def test_a_new_session_never_adopts_a_token_planted_before_login(
    session_app: Any, session_store: SessionStore, member: Tenant
) -> None:
    planted = new_token()  # a session fixation attempt: the attacker's value in the victim's cookie
    first = await start_session(session_app, member)
    second = await start_session(session_app, member)
    tokens = {first.access_token, first.refresh_token, second.access_token, second.refresh_token}
    assert len(tokens) == 4
    assert planted not in tokens
    assert first.session_id != second.session_id
    assert await session_store.resolve_access(planted) is None
    assert await session_store.find_by_refresh(planted) is None


async def test_an_access_token_opens_its_session_until_it_expires(
    session_app: Any, session_store: SessionStore, member: Tenant
) -> None:
    now = utcnow()
    issued = await start_session(session_app, member, now=now)
    assert _close(issued.access_expires_at, now + ACCESS_TTL)
    record = await session_store.resolve_access(issued.access_token, now=now + ACCESS_TTL - timedelta(seconds=1))
    assert record is not None
    assert (record.session_id, record.user_id, record.organization_id) == (
        issued.session_id,
        member.user_id,
        member.organization_id,
    )
    assert await session_store.resolve_access(issued.access_token, now=now + ACCESS_TTL) is None
    # The refresh token is no access token, nor the other way round.
    assert await session_store.resolve_access(issued.refresh_token, now=now) is None
    assert await session_store.find_by_refresh(issued.access_token, now=now) is None


@pytest.mark.parametrize(("remember", "lifetime"), [(False, REFRESH_TTL), (True, timedelta(days=30))])
async def test_a_refresh_token_lives_24_hours_or_30_days_with_remember_me(
    session_app: Any, session_store: SessionStore, member: Tenant, remember: bool, lifetime: timedelta
) -> None:
    now = utcnow()
    issued = await start_session(session_app, member, now=now, remember=remember)
    assert _close(issued.refresh_expires_at, now + lifetime)
    expired = await session_store.rotate_refresh(issued.refresh_token, now=now + lifetime)
    assert isinstance(expired, Refused)
    assert await session_store.get_session(issued.session_id, now=now + lifetime) is None
    rotated = await session_store.rotate_refresh(issued.refresh_token, now=now + lifetime - timedelta(seconds=1))
    assert isinstance(rotated, Rotated)


async def test_rotation_issues_a_new_pair_and_kills_the_old_access_token(
    session_app: Any, session_store: SessionStore, member: Tenant
) -> None:
    now = utcnow()
    issued = await start_session(session_app, member, now=now)
    later = now + timedelta(hours=20)
    outcome = await session_store.rotate_refresh(issued.refresh_token, now=later)
    assert isinstance(outcome, Rotated)
    fresh = outcome.issued
    assert fresh.session_id == issued.session_id
    assert {fresh.access_token, fresh.refresh_token}.isdisjoint({issued.access_token, issued.refresh_token})
    # Sliding lifetime: the new refresh token lives 24 hours from the rotation.
    assert _close(fresh.refresh_expires_at, later + REFRESH_TTL)
    assert _close(fresh.access_expires_at, later + ACCESS_TTL)
    assert await session_store.resolve_access(issued.access_token, now=later) is None
    assert await session_store.resolve_access(fresh.access_token, now=later) is not None
    record = await session_store.get_session(issued.session_id, now=later)
    assert record is not None
    assert _close(record.expires_at, later + REFRESH_TTL)


async def test_a_reused_refresh_token_revokes_the_whole_family(
    session_app: Any, session_store: SessionStore, member: Tenant
) -> None:
    issued = await start_session(session_app, member)
    first = await session_store.rotate_refresh(issued.refresh_token)
    assert isinstance(first, Rotated)
    second = await session_store.rotate_refresh(first.issued.refresh_token)
    assert isinstance(second, Rotated)

    reused = await session_store.rotate_refresh(issued.refresh_token)  # the thief's copy of the first token

    assert isinstance(reused, Reused)
    assert reused.record.session_id == issued.session_id
    assert reused.record.user_id == member.user_id
    assert await session_store.resolve_access(second.issued.access_token) is None
    assert isinstance(await session_store.rotate_refresh(second.issued.refresh_token), Refused)
    assert await session_store.get_session(issued.session_id) is None
    assert await session_store.list_sessions(member.user_id) == []


async def test_of_concurrent_refreshes_with_one_token_exactly_one_wins(
    session_app: Any, session_store: SessionStore, member: Tenant
) -> None:
    for _ in range(3):
        issued = await start_session(session_app, member)
        outcomes = await asyncio.gather(*(session_store.rotate_refresh(issued.refresh_token) for _ in range(4)))
        winners = [outcome for outcome in outcomes if isinstance(outcome, Rotated)]
        assert len(winners) == 1, outcomes
        assert all(isinstance(outcome, Reused | Refused) for outcome in outcomes if outcome is not winners[0])
        assert any(isinstance(outcome, Reused) for outcome in outcomes)
        # The losers saw reuse, so the family is gone: the winner's tokens are dead too.
        assert await session_store.resolve_access(winners[0].issued.access_token) is None


async def test_a_revoked_session_is_refused_at_once(
    session_app: Any, session_store: SessionStore, member: Tenant
) -> None:
    issued = await start_session(session_app, member)
    assert await session_store.revoke_session(issued.session_id, "logout") is True
    assert await session_store.resolve_access(issued.access_token) is None
    assert await session_store.find_by_refresh(issued.refresh_token) is None
    assert isinstance(await session_store.rotate_refresh(issued.refresh_token), Refused)
    assert await session_store.revoke_session(issued.session_id, "logout") is False


async def test_sessions_are_listed_per_user_newest_first(
    session_app: Any, session_store: SessionStore, member: Tenant, outsider: Tenant
) -> None:
    now = utcnow()
    older = await start_session(session_app, member, now=now - timedelta(hours=2))
    newer = await start_session(session_app, member, now=now - timedelta(hours=1), remember=True)
    await start_session(session_app, outsider)
    ended = await start_session(session_app, member)
    await session_store.revoke_session(ended.session_id, "logout")
    listed = await session_store.list_sessions(member.user_id, now=now)
    assert [record.session_id for record in listed] == [newer.session_id, older.session_id]
    assert [record.remember for record in listed] == [True, False]
    assert listed[0].provider == "google"
    assert listed[0].ip == "203.0.113.9"
    assert listed[0].user_agent == "pytest"
    # Once the non-remembered one lapses, only the remembered one is left.
    lapsed = await session_store.list_sessions(member.user_id, now=now + timedelta(hours=23))
    assert [record.session_id for record in lapsed] == [newer.session_id]


async def test_touch_records_activity(session_app: Any, session_store: SessionStore, member: Tenant) -> None:
    now = utcnow()
    issued = await start_session(session_app, member, now=now - timedelta(minutes=5))
    await session_store.touch(issued.session_id, now=now)
    record = await session_store.get_session(issued.session_id, now=now)
    assert record is not None
    assert _close(record.last_seen_at, now)


async def test_a_login_attempt_is_taken_once(session_store: SessionStore) -> None:
    await session_store.save_login_attempt("state-1", "browser-a", {"nonce": "n-1", "remember": True}, 60)
    assert await session_store.take_login_attempt("state-1", "browser-a") == {"nonce": "n-1", "remember": True}
    assert await session_store.take_login_attempt("state-1", "browser-a") is None


async def test_a_login_attempt_is_bound_to_the_browser_that_started_it(session_store: SessionStore) -> None:
    await session_store.save_login_attempt("state-2", "browser-a", {"nonce": "n-2"}, 60)
    assert await session_store.take_login_attempt("state-2", "browser-b") is None
    # The other browser's try consumed it: the right browser cannot use it afterwards either.
    assert await session_store.take_login_attempt("state-2", "browser-a") is None
    assert await session_store.take_login_attempt("unknown-state", "browser-a") is None


async def test_a_login_attempt_expires(session_store: SessionStore) -> None:
    await session_store.save_login_attempt("state-3", "browser-a", {"nonce": "n-3"}, 1)
    await asyncio.sleep(1.2)
    assert await session_store.take_login_attempt("state-3", "browser-a") is None


@pytest.mark.parametrize("store_kind", ["redis"])
async def test_redis_forgets_tokens_when_they_expire(
    session_app: Any, session_store: SessionStore, member: Tenant
) -> None:
    issued = await start_session(session_app, member)
    await session_store.save_login_attempt("state-4", "browser-a", {}, 600)
    client = aioredis.Redis.from_url(session_app.state.settings.redis_url, decode_responses=True)
    try:
        ttls = {key: await client.pttl(key) async for key in client.scan_iter(f"{PREFIX}*")}
    finally:
        await client.aclose()
    access_key = f"{PREFIX}a:{hash_token(issued.access_token)}"
    refresh_key = f"{PREFIX}r:{hash_token(issued.refresh_token)}"
    assert 0 < ttls.pop(access_key) <= ACCESS_TTL.total_seconds() * 1000
    assert 0 < ttls.pop(refresh_key) <= REFRESH_TTL.total_seconds() * 1000
    assert 0 < ttls.pop(f"{PREFIX}s:{issued.session_id}") <= REFRESH_TTL.total_seconds() * 1000
    assert 0 < ttls.pop(f"{PREFIX}u:{member.user_id}") <= REFRESH_TTL.total_seconds() * 1000
    assert 0 < ttls.pop(f"{PREFIX}login:{hash_token('state-4')}") <= 600_000
    assert ttls == {}


async def test_the_redis_store_uses_db0_whatever_redis_url_names(session_redis: RedisServer) -> None:
    store = RedisSessionStore(session_redis.url(3), Lifetimes(ACCESS_TTL, REFRESH_TTL, timedelta(days=30)))
    try:
        await store.save_login_attempt("state-db0", "browser", {}, 60)
        db0 = aioredis.Redis.from_url(session_redis.url(0))
        db3 = aioredis.Redis.from_url(session_redis.url(3))
        try:
            key = f"{PREFIX}login:{hash_token('state-db0')}"
            assert await db0.exists(key) == 1
            assert await db3.exists(key) == 0
        finally:
            await db0.aclose()
            await db3.aclose()
    finally:
        await store.aclose()


@pytest.mark.parametrize("store_kind", ["db"])  # Redis expires its keys itself
async def test_pruning_deletes_ended_sessions_and_lapsed_logins_only(
    session_app: Any, session_store: SessionStore, member: Tenant
) -> None:
    now = utcnow()
    live = await start_session(session_app, member)
    await start_session(session_app, member, now=now - timedelta(days=2))  # lapsed
    revoked = await start_session(session_app, member)
    await session_store.revoke_session(revoked.session_id, "logout")
    rotated = await session_store.rotate_refresh(live.refresh_token)
    assert isinstance(rotated, Rotated)
    await session_store.save_login_attempt("old", "browser", {}, 1)
    await session_store.save_login_attempt("fresh", "browser", {}, 600)

    assert await prune_expired(session_app.state.database.writer, now=now + timedelta(seconds=5)) > 0

    async with session_app.state.database.reader() as session:
        sessions = set(await session.scalars(select(AuthSession.id)))
        tokens = set(await session.scalars(select(AuthSessionToken.token_hash)))
        logins = set(await session.scalars(select(LoginAttempt.state_hash)))
    assert sessions == {live.session_id}
    assert logins == {hash_token("fresh")}
    # The used refresh token stays until its own expiry, so a late copy is still caught as reuse.
    assert hash_token(live.refresh_token) in tokens
    assert await session_store.take_login_attempt("fresh", "browser") == {}
    assert await session_store.resolve_access(rotated.issued.access_token) is not None


@pytest.mark.parametrize("ending", ["revoked", "refresh_reused"])
async def test_an_ended_session_keeps_no_id_token(
    session_app: Any, session_store: SessionStore, member: Tenant, store_kind: str, ending: str
) -> None:
    hint = "eyJhbGciOiJSUzI1NiJ9.eyJlbWFpbCI6ImFkYUBleGFtcGxlLmNvbSJ9.planted-signature"
    async with session_app.state.database.writer() as db:
        issued = await session_store.create_session(
            db,
            NewSession(
                user_id=member.user_id,
                organization_id=member.organization_id,
                provider="google",
                ip=None,
                user_agent=None,
                remember=False,
                id_token_hint=hint,
            ),
        )
        await db.commit()
    assert "planted-signature" in await _stored_text(session_app, store_kind)  # kept while the session lives

    if ending == "revoked":
        assert await session_store.revoke_session(issued.session_id, "logout")
    else:
        assert isinstance(await session_store.rotate_refresh(issued.refresh_token), Rotated)
        assert isinstance(await session_store.rotate_refresh(issued.refresh_token), Reused)

    assert "planted-signature" not in await _stored_text(session_app, store_kind)


async def test_the_id_token_is_kept_for_logout_unless_it_is_too_long(
    session_app: Any, session_store: SessionStore, member: Tenant
) -> None:
    hints = {"short": "header.payload.signature", "long": "h." + "p" * 5000 + ".s"}
    kept = {}
    async with session_app.state.database.writer() as db:
        for name, hint in hints.items():
            issued = await session_store.create_session(
                db,
                NewSession(
                    user_id=member.user_id,
                    organization_id=member.organization_id,
                    provider="g" * 80,
                    ip=None,
                    user_agent=None,
                    remember=False,
                    id_token_hint=hint,
                ),
            )
            kept[name] = issued.session_id
        await db.commit()
    short = await session_store.get_session(kept["short"])
    long = await session_store.get_session(kept["long"])
    assert short is not None
    assert long is not None
    assert short.id_token_hint == hints["short"]
    assert long.id_token_hint is None  # it would not fit; logout at the provider goes without a hint
    assert short.provider == "g" * 64
