"""Under load through Caddy: a gunicorn reload, stalled workers, a killed worker, a crashed backend, Redis down.

The load is open-loop at 50 requests per second (tests/e2e/load.py). Each test prints its load
summary, which the closing note of the topology issue quotes.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.conftest import Stack
from tests.e2e.load import LoadReport, Request, run_load

pytestmark = [pytest.mark.e2e, pytest.mark.postgres_only, pytest.mark.slow]

RATE = 50.0
DURATION = 8.0
LIST = "/api/v1/customers?limit=5"
# The budget for the app to answer again after a database backend crash.
RECOVERY_S = 2.0


def _gets(stack: Stack) -> Request:
    def request(_index: int) -> tuple[str, str, dict[str, str], bytes | None]:
        return "GET", LIST, stack.headers, None

    return request


def _creates(stack: Stack) -> Request:
    """Idempotent creates, each with its own key and email."""

    def request(index: int) -> tuple[str, str, dict[str, str], bytes | None]:
        body = f'{{"name": "Load {index}", "email": "load-{index}-{secrets.token_hex(3)}@example.com"}}'.encode()
        headers = {**stack.headers, "Content-Type": "application/json", "Idempotency-Key": secrets.token_hex(16)}
        return "POST", "/api/v1/customers", headers, body

    return request


def _mixed(stack: Stack) -> Request:
    """Four reads to one idempotent create."""
    gets, creates = _gets(stack), _creates(stack)

    def request(index: int) -> tuple[str, str, dict[str, str], bytes | None]:
        return gets(index) if index % 5 else creates(index)

    return request


async def _load(
    https: httpx.AsyncClient,
    request: Request,
    actions: dict[str, tuple[float, Callable[[], None]]] | None = None,
    *,
    rate: float = RATE,
    duration: float = DURATION,
) -> LoadReport:
    report = await run_load(https, request, rate=rate, duration=duration, actions=actions)
    print(f"\nload: {report.summary()}")  # noqa: T201 - quoted in the issue's closing note
    return report


async def test_reload_under_load_answers_every_request(https: httpx.AsyncClient, stack: Stack) -> None:
    before = set(stack.gunicorn.worker_pids())

    report = await _load(https, _mixed(stack), {"hup": (2.0, stack.gunicorn.reload)})

    assert report.failures() == []
    assert len(report.outcomes) == int(RATE * DURATION)
    stack.gunicorn.wait_serving()
    assert before.isdisjoint(stack.gunicorn.worker_pids()), "HUP did not replace the workers"


def _signal_workers(stack: Stack, signum: signal.Signals) -> Callable[[], None]:
    def send() -> None:
        for pid in stack.gunicorn.worker_pids():
            os.kill(pid, signum)

    return send


async def test_a_stalled_app_delays_creates_but_fails_none(https: httpx.AsyncClient, stack: Stack) -> None:
    # While no worker answers (a reload's new workers still importing the app on a slow host), the
    # edge's requests wait in the socket's backlog. The stall outlasts a health probe's interval
    # plus its timeout: an edge that marked the app down would answer the creates sent after
    # that with an immediate 503, as Caddy 2.6 never retries a non-GET once no upstream is left.
    stall_s = 11.0
    resume = _signal_workers(stack, signal.SIGCONT)
    try:
        report = await _load(
            https,
            _creates(stack),
            {
                "stop workers": (0.5, _signal_workers(stack, signal.SIGSTOP)),
                "continue workers": (0.5 + stall_s, resume),
            },
            rate=2.0,
            duration=stall_s + 1.0,
        )
    finally:
        resume()  # never leave the shared stack's workers stopped, whatever happened above

    assert report.failures() == []
    assert max(outcome.elapsed for outcome in report.outcomes) > stall_s - 1.0, "the workers never stalled"


async def test_killing_a_worker_under_load_fails_no_get(https: httpx.AsyncClient, stack: Stack) -> None:
    victim = stack.gunicorn.worker_pids()[0]

    report = await _load(https, _gets(stack), {"kill -9 worker": (2.0, lambda: os.kill(victim, signal.SIGKILL))})

    assert report.failures() == []
    stack.gunicorn.wait_serving()
    assert victim not in stack.gunicorn.worker_pids()


def _kill_a_backend(stack: Stack) -> None:
    pids = stack.postgres.psql(
        "SELECT pid FROM pg_stat_activity WHERE usename = 'shipyard_app' ORDER BY backend_start LIMIT 1"
    ).split()
    assert pids, "PgBouncer holds no server connection to kill"
    os.kill(int(pids[0]), signal.SIGKILL)


async def test_database_backend_crash_recovers_within_two_seconds(https: httpx.AsyncClient, stack: Stack) -> None:
    # kill -9 of one backend makes the postmaster end every backend and recover: every server
    # connection PgBouncer holds dies at once.
    report = await _load(https, _gets(stack), {"kill -9 backend": (2.0, lambda: _kill_a_backend(stack))})

    killed_at = report.events["kill -9 backend"]
    recovered = [o.started for o in report.outcomes if o.started >= killed_at and o.ok]
    assert recovered, "the app never answered again"
    failed = report.failures(after=killed_at)
    last_failure = max((o.started for o in failed), default=killed_at) - killed_at
    print(  # noqa: T201 - quoted in the closing note
        f"first success {recovered[0] - killed_at:.2f}s after the kill; "
        f"{len(failed)} failed requests, the last one started {last_failure:.2f}s after the kill"
    )
    assert report.failures(after=killed_at + RECOVERY_S) == []
    assert [o for o in report.failures() if o.status is not None and o.status < 500] == []


async def test_redis_down_makes_ready_503_while_the_api_answers(https: httpx.AsyncClient, stack: Stack) -> None:
    stack.redis.crash()
    try:
        ready = await https.get("/ready")
        listed = await https.get(LIST, headers=stack.headers)
        health = await https.get("/health")
    finally:
        stack.redis.start()
    assert ready.status_code == 503
    assert ready.headers["Content-Type"].startswith("application/problem+json")
    assert ready.json()["failing"] == ["redis"]
    assert ready.headers["Retry-After"]
    assert listed.status_code == 200
    assert health.status_code == 200
    deadline = time.monotonic() + 10
    while (await https.get("/ready")).status_code != 200:
        assert time.monotonic() < deadline, "/ready did not recover after Redis came back"
        await asyncio.sleep(0.2)
