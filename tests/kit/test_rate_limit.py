"""Rate limiting: both backends (in-process and a real redis-server), the key scheme, and the 429 dependency."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from starlette.middleware import Middleware

from shipyard.auth.signin.rate_limit import rate_limited
from shipyard.kit.problems import install_problem_handlers
from shipyard.kit.proxy_headers import ProxyHeadersMiddleware
from shipyard.kit.rate_limit import (
    KEY_PREFIX,
    InProcessRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    client_key,
    create_rate_limiter,
    rate_limit_key,
)
from shipyard.kit.request_context import RequestContextMiddleware
from shipyard.settings import Settings
from tests.fixtures.log_capture import production_logs
from tests.fixtures.servers import RedisServer

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def redis_db1(redis_server: RedisServer) -> AsyncIterator[Redis]:
    """A plain client on db1, emptied before the test."""
    client = Redis.from_url(redis_server.url(1))
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(params=["in_process", "redis"])
async def limiter(request: pytest.FixtureRequest, redis_server: RedisServer) -> AsyncIterator[RateLimiter]:
    """Each backend in turn; the Redis one on a flushed db1."""
    if request.param == "in_process":
        yield InProcessRateLimiter()
        return
    flusher = Redis.from_url(redis_server.url(1))
    await flusher.flushdb()
    await flusher.aclose()
    redis_limiter = RedisRateLimiter(redis_server.url(1))
    yield redis_limiter
    await redis_limiter.aclose()


# --- the limiter -----------------------------------------------------------------------------------------


async def test_five_hits_are_allowed_then_the_sixth_is_refused_with_a_retry_after(limiter: RateLimiter) -> None:
    results = [await limiter.hit("auth_login:203.0.113.7", limit=5, window_s=60) for _ in range(6)]
    assert [result.allowed for result in results] == [True] * 5 + [False]
    assert [result.remaining for result in results] == [4, 3, 2, 1, 0, 0]
    refused = results[-1]
    assert 1 <= refused.retry_after_s <= 60
    assert refused.limit == 5


async def test_each_answer_says_when_the_oldest_counted_hit_gives_its_unit_back(limiter: RateLimiter) -> None:
    key = "api_reads:token:tok_reset"
    first = await limiter.hit(key, limit=2, window_s=10)
    await asyncio.sleep(1.2)
    second = await limiter.hit(key, limit=2, window_s=10)
    refused = await limiter.hit(key, limit=2, window_s=10)
    assert first.reset_s == 10  # the first hit leaves the window 10 s after it was counted
    assert second.reset_s == 9  # 8.8 s left on the oldest hit, rounded up
    assert refused.reset_s == refused.retry_after_s == 9


async def test_each_client_address_has_its_own_count(limiter: RateLimiter) -> None:
    for _ in range(5):
        await limiter.hit(rate_limit_key("auth_login", "203.0.113.7"), limit=5, window_s=60)
    assert not (await limiter.hit(rate_limit_key("auth_login", "203.0.113.7"), limit=5, window_s=60)).allowed
    assert (await limiter.hit(rate_limit_key("auth_login", "203.0.113.8"), limit=5, window_s=60)).allowed
    assert (await limiter.hit(rate_limit_key("auth_callback", "203.0.113.7"), limit=5, window_s=60)).allowed


async def test_the_window_resets_once_the_allowed_hits_age_out(limiter: RateLimiter) -> None:
    key = "auth_login:198.51.100.1"
    assert (await limiter.hit(key, limit=2, window_s=1)).allowed
    assert (await limiter.hit(key, limit=2, window_s=1)).allowed
    refused = await limiter.hit(key, limit=2, window_s=1)
    assert not refused.allowed
    assert refused.retry_after_s == 1
    await asyncio.sleep(1.1)
    assert (await limiter.hit(key, limit=2, window_s=1)).allowed


async def test_the_window_slides_so_no_burst_passes_at_a_boundary(limiter: RateLimiter) -> None:
    # A fixed window starting at the first hit would reset at t=2.0 and let two more through at t=2.2.
    key = "auth_login:198.51.100.2"
    assert (await limiter.hit(key, limit=2, window_s=2)).allowed  # t = 0
    await asyncio.sleep(1.2)
    assert (await limiter.hit(key, limit=2, window_s=2)).allowed  # t = 1.2
    await asyncio.sleep(1.0)
    assert (await limiter.hit(key, limit=2, window_s=2)).allowed  # t = 2.2: the first hit has left
    assert not (await limiter.hit(key, limit=2, window_s=2)).allowed  # 1.2 and 2.2 are both within 2 s


def test_ipv6_clients_are_counted_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:203.0.113.7") == client_key("203.0.113.7") == "203.0.113.7"
    assert client_key(None) == client_key("not-an-ip") == "unknown"
    assert rate_limit_key("auth_login", "203.0.113.7") == "auth_login:203.0.113.7"


async def test_redis_keys_live_in_db1_under_the_prefix_and_expire(redis_server: RedisServer, redis_db1: Redis) -> None:
    db0 = Redis.from_url(redis_server.url(0))
    await db0.flushdb()
    settings = Settings.model_validate({"env": "test", "redis_url": redis_server.url(0)})
    limiter = create_rate_limiter(settings)
    try:
        assert isinstance(limiter, RedisRateLimiter)
        await limiter.hit("auth_login:203.0.113.9", limit=5, window_s=60)
        assert await redis_db1.keys("*") == [f"{KEY_PREFIX}auth_login:203.0.113.9".encode()]
        assert 0 < await redis_db1.pttl(f"{KEY_PREFIX}auth_login:203.0.113.9") <= 60_000
        assert await db0.dbsize() == 0
    finally:
        await limiter.aclose()
        await db0.aclose()


def test_without_redis_the_limiter_is_in_process() -> None:
    assert isinstance(create_rate_limiter(Settings.model_validate({"env": "test"})), InProcessRateLimiter)


async def test_in_process_memory_is_bounded() -> None:
    limiter = InProcessRateLimiter(max_keys=100, sweep_every_s=3600)
    for number in range(250):
        await limiter.hit(f"auth_login:10.0.{number // 256}.{number % 256}", limit=5, window_s=0.2)
    assert limiter.tracked_keys == 100
    await asyncio.sleep(0.25)
    limiter.sweep()
    assert limiter.tracked_keys == 0


async def test_expired_windows_are_swept_as_hits_arrive() -> None:
    limiter = InProcessRateLimiter(sweep_every_s=0.1)
    for number in range(50):
        await limiter.hit(f"auth_login:10.1.0.{number}", limit=5, window_s=0.05)
    await asyncio.sleep(0.15)
    await limiter.hit("auth_login:10.1.1.1", limit=5, window_s=60)
    assert limiter.tracked_keys == 1


# --- Redis going away ----------------------------------------------------------------------------------------


async def test_with_redis_down_the_limit_is_enforced_in_process_and_warned_once() -> None:
    with RedisServer() as server, production_logs() as logs:
        limiter = RedisRateLimiter(server.url(1), retry_redis_after_s=0.2)
        try:
            assert (await limiter.hit("auth_login:203.0.113.5", limit=5, window_s=60)).allowed
            server.crash()
            during = [await limiter.hit("auth_login:203.0.113.5", limit=5, window_s=60) for _ in range(6)]
            await asyncio.sleep(0.25)  # past the back-off: the next hit tries Redis again, and fails again
            during.append(await limiter.hit("auth_login:203.0.113.5", limit=5, window_s=60))
            assert [result.allowed for result in during] == [True] * 5 + [False, False]
            assert 1 <= during[-1].retry_after_s <= 60
            warnings = logs.events("rate_limit_redis_unavailable")
            assert len(warnings) == 1, logs.text
            assert warnings[0]["level"] == "warning"

            server.start()
            await asyncio.sleep(0.25)
            assert (await limiter.hit("auth_login:203.0.113.5", limit=5, window_s=60)).allowed
            check = Redis.from_url(server.url(1))
            try:
                assert await check.exists(f"{KEY_PREFIX}auth_login:203.0.113.5") == 1
            finally:
                await check.aclose()
        finally:
            await limiter.aclose()


# --- the FastAPI dependency ------------------------------------------------------------------------------------


def _tiny_app(limiter: RateLimiter, *, limit: int = 5, behind_proxy: bool = False) -> FastAPI:
    middleware = [Middleware(RequestContextMiddleware, metrics=None, access_log=False)]
    if behind_proxy:
        middleware.insert(0, Middleware(ProxyHeadersMiddleware))
    app = FastAPI(middleware=middleware)
    install_problem_handlers(app)
    app.state.settings = Settings.model_validate({"env": "test", "auth_rate_limit_per_minute": limit})
    app.state.rate_limiter = limiter

    @app.get("/api/auth/login", dependencies=[rate_limited("auth_login")])
    async def login() -> dict[str, Any]:
        return {"ok": True}

    @app.get("/api/auth/callback", dependencies=[rate_limited("auth_callback")])
    async def callback() -> dict[str, Any]:
        return {"ok": True}

    return app


def _client(app: FastAPI, ip: str = "203.0.113.20") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 50000)), base_url="http://testserver")


async def test_over_the_limit_the_answer_is_a_429_problem_with_retry_after(limiter: RateLimiter) -> None:
    with production_logs() as logs:
        async with _client(_tiny_app(limiter)) as http:
            statuses = [(await http.get("/api/auth/login")).status_code for _ in range(5)]
            refused = await http.get("/api/auth/login")
    assert statuses == [200] * 5
    assert refused.status_code == 429
    assert refused.headers["content-type"] == PROBLEM
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    body = refused.json()
    assert body["code"] == "rate_limited"
    assert body["type"].endswith("/rate_limited")
    assert body["status"] == 429
    assert body["title"] == "Too Many Requests"
    assert refused.headers["retry-after"] in body["detail"]
    assert body["request_id"] == refused.headers["x-request-id"]
    [failure] = logs.events("auth_failed")
    assert failure["reason"] == "rate_limited"
    assert failure["client_ip"] == "203.0.113.20"
    assert failure["bucket"] == "auth_login"
    assert failure["request_id"] == body["request_id"]


async def test_the_limit_comes_from_the_settings_and_buckets_count_apart(limiter: RateLimiter) -> None:
    async with _client(_tiny_app(limiter, limit=2)) as http:
        logins = [(await http.get("/api/auth/login")).status_code for _ in range(3)]
        callbacks = [(await http.get("/api/auth/callback")).status_code for _ in range(3)]
    assert logins == [200, 200, 429]
    assert callbacks == [200, 200, 429]


async def test_another_address_is_not_affected_by_a_limited_one(limiter: RateLimiter) -> None:
    app = _tiny_app(limiter, limit=1)
    async with _client(app, "203.0.113.30") as first, _client(app, "203.0.113.31") as second:
        assert [(await first.get("/api/auth/login")).status_code for _ in range(2)] == [200, 429]
        assert (await second.get("/api/auth/login")).status_code == 200


async def test_behind_the_proxy_a_spoofed_forwarded_for_does_not_buy_a_fresh_count(limiter: RateLimiter) -> None:
    # Caddy appends the real peer; entries to its left are whatever the client sent.
    app = _tiny_app(limiter, limit=2, behind_proxy=True)
    async with _client(app, "10.0.0.2") as http:
        statuses = [
            (
                await http.get("/api/auth/login", headers={"X-Forwarded-For": f"198.51.100.{n}, 203.0.113.40"})
            ).status_code
            for n in range(3)
        ]
        other = await http.get("/api/auth/login", headers={"X-Forwarded-For": "203.0.113.41"})
    assert statuses == [200, 200, 429]
    assert other.status_code == 200


async def test_a_limit_of_zero_switches_the_limit_off() -> None:
    async with _client(_tiny_app(InProcessRateLimiter(), limit=0)) as http:
        assert {(await http.get("/api/auth/login")).status_code for _ in range(8)} == {200}


async def test_the_app_puts_a_limiter_on_its_state(app: FastAPI) -> None:
    assert isinstance(app.state.rate_limiter, InProcessRateLimiter)
