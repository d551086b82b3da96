"""Rate limits on /api/v1: per token (per address when unauthenticated), reads apart from writes.

Each test runs on both limiter backends: in-process (the embedded default) and the shared Redis one.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.asyncio import Redis

from shipyard.app import create_app
from shipyard.settings import Settings
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.servers import RedisServer
from tests.fixtures.tenants import Tenant, create_tenant

CUSTOMERS = "/api/v1/customers"
READS = 3
WRITES = 2
WINDOW_S = 2.0
_STATE = re.compile(r'^"(?P<name>[a-z]+)";r=(?P<remaining>\d+);t=(?P<reset>\d+)$')


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(params=["in_process", "redis"])
async def limited_app(
    request: pytest.FixtureRequest, settings: Settings, redis_server: RedisServer
) -> AsyncIterator[object]:
    """The app with small API quotas, counting in-process or in Redis."""
    overrides: dict[str, object] = {
        "api_rate_limit_reads": READS,
        "api_rate_limit_writes": WRITES,
        "api_rate_limit_window_s": WINDOW_S,
    }
    if request.param == "redis":
        flusher = Redis.from_url(redis_server.url(1))
        await flusher.flushdb()
        await flusher.aclose()
        overrides["redis_url"] = redis_server.url(0)
    application = create_app(settings.model_copy(update=overrides))
    async with running_lifespan(application):
        yield application


@pytest.fixture
async def http(limited_app: object) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=limited_app, client=("198.51.100.7", 40000))  # type: ignore[arg-type]  # an ASGI app
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def acme(limited_app: object) -> Tenant:
    return await create_tenant(limited_app, "Acme", "acme")


def _quota_state(response: httpx.Response) -> tuple[str, int, int]:
    """(policy name, remaining, seconds until a unit comes back) from the `RateLimit` header."""
    match = _STATE.match(response.headers["ratelimit"])
    assert match is not None, response.headers["ratelimit"]
    return match["name"], int(match["remaining"]), int(match["reset"])


async def test_an_agent_that_honours_the_headers_is_never_refused(http: httpx.AsyncClient, acme: Tenant) -> None:
    statuses = []
    async with asyncio.timeout(4 * WINDOW_S + 5):  # three waits of at most one window each, plus slack
        for _ in range(3 * READS + 1):
            response = await http.get(CUSTOMERS, headers=acme.headers)
            statuses.append(response.status_code)
            assert response.headers["ratelimit-policy"] == f'"reads";q={READS};w={int(WINDOW_S)}'
            _, remaining, reset_s = _quota_state(response)
            if remaining == 0:
                await asyncio.sleep(reset_s)
    assert statuses == [200] * (3 * READS + 1)


async def test_an_agent_that_ignores_the_headers_gets_a_429_with_retry_after(
    http: httpx.AsyncClient, acme: Tenant
) -> None:
    responses = [await http.get(CUSTOMERS, headers=acme.headers) for _ in range(READS + 1)]

    assert [response.status_code for response in responses] == [200] * READS + [429]
    refused = responses[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["retry-after"]) <= WINDOW_S
    assert _quota_state(refused)[:2] == ("reads", 0)
    assert [_quota_state(response)[1] for response in responses[:READS]] == list(range(READS - 1, -1, -1))


async def test_reads_and_writes_and_tokens_count_apart(
    http: httpx.AsyncClient, acme: Tenant, limited_app: object
) -> None:
    globex = await create_tenant(limited_app, "Globex", "globex")
    for _ in range(READS):
        await http.get(CUSTOMERS, headers=acme.headers)
    assert (await http.get(CUSTOMERS, headers=acme.headers)).status_code == 429

    written = await http.post(CUSTOMERS, json={"name": "Ada", "email": "ada@example.com"}, headers=acme.headers)
    other_token = await http.get(CUSTOMERS, headers=globex.headers)

    assert written.status_code == 201
    assert _quota_state(written)[:2] == ("writes", WRITES - 1)
    assert other_token.status_code == 200


async def test_unauthenticated_calls_count_per_address(http: httpx.AsyncClient, acme: Tenant) -> None:
    anonymous = [await http.get(CUSTOMERS) for _ in range(READS + 1)]
    bad_token = await http.get(CUSTOMERS, headers={"Authorization": "Bearer not-a-token"})
    with_token = await http.get(CUSTOMERS, headers=acme.headers)

    assert [response.status_code for response in anonymous] == [401] * READS + [429]
    assert bad_token.status_code == 429  # a failed credential counts against the address too
    assert with_token.status_code == 200


async def test_with_redis_every_process_shares_one_count(settings: Settings, redis_server: RedisServer) -> None:
    flusher = Redis.from_url(redis_server.url(1))
    await flusher.flushdb()
    await flusher.aclose()
    shared = settings.model_copy(
        update={"api_rate_limit_reads": READS, "api_rate_limit_window_s": 60.0, "redis_url": redis_server.url(0)}
    )
    first, second = create_app(shared), create_app(shared)
    async with running_lifespan(first), running_lifespan(second):
        acme = await create_tenant(first, "Acme", "acme")
        statuses = []
        for index in range(READS + 1):
            app = (first, second)[index % 2]  # two web processes behind one proxy, taking turns
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
                statuses.append((await http.get(CUSTOMERS, headers=acme.headers)).status_code)
    assert statuses == [200] * READS + [429]
