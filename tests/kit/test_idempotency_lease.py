"""A claimed Idempotency-Key is a lease its live request renews, so a dead request's key frees soon.

Issue 12, item 7: after a crash, a retry waited out a fixed 60 s lock although the request holding
the key was dead.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shipyard.models import Customer
from shipyard.settings import Settings
from tests.fixtures.problems import assert_problem
from tests.fixtures.tenants import Tenant
from tests.fixtures.workers import REPO, worker_env
from tests.kit.conftest import PROBE, Probes, count_rows
from tests.kit.hanging_server import ENTERED

CUSTOMERS = "/api/v1/customers"
ADA = {"name": "Ada", "email": "ada@example.com"}
LEASE_S = 1.0


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """A one-second lease, so that a lapse shows within the test."""
    return settings.model_copy(update={"idempotency_lock_s": LEASE_S})


def _keyed(tenant: Tenant, key: str) -> dict[str, str]:
    return {**tenant.headers, "Idempotency-Key": key}


async def test_a_live_request_keeps_its_key_past_its_lease_length(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, probes: Probes
) -> None:
    url = f"{PROBE}/slow"
    first = asyncio.create_task(client.post(url, json=ADA, headers=_keyed(tenant, "long")))
    try:
        await asyncio.wait_for(probes.entered.wait(), timeout=10)
        await asyncio.sleep(3 * LEASE_S)  # three lease lengths: only renewals keep the key held
        # Bounded: had the key been taken over, the retry would wait in the probe like the first.
        retry = await asyncio.wait_for(client.post(url, json=ADA, headers=_keyed(tenant, "long")), timeout=10)
        assert_problem(retry, 409, "idempotency_key_in_flight")
        assert 1 <= int(retry.headers["retry-after"]) <= math.ceil(LEASE_S)
        assert probes.calls["slow"] == 1
    finally:
        probes.proceed.set()
    original = await asyncio.wait_for(first, timeout=10)
    assert original.status_code == 201, original.text
    replay = await client.post(url, json=ADA, headers=_keyed(tenant, "long"))
    assert replay.headers["idempotent-replayed"] == "true"
    assert await count_rows(app, Customer) == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _hanging_server(settings: Settings, log_path: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **worker_env(settings),
        "SHIPYARD_IDEMPOTENCY_LOCK_S": str(LEASE_S),
        "SHIPYARD_JOBS_EMBEDDED": "false",
        "SHIPYARD_TOKEN_LAST_USED_RESOLUTION_S": "0",
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "tests.kit.hanging_server:build"]
    with log_path.open("wb") as log:
        server = subprocess.Popen(  # noqa: S603 - our own test module, fixed arguments
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(10)


def _output(log_path: Path) -> str:
    return log_path.read_text(errors="replace")


async def _wait_for_log(server: subprocess.Popen[bytes], log_path: Path, text: str) -> None:
    deadline = time.monotonic() + 30
    while text not in _output(log_path):
        assert server.poll() is None, _output(log_path)[-3000:]
        assert time.monotonic() < deadline, f"no {text!r} in:\n{_output(log_path)[-3000:]}"
        await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_a_retry_runs_within_a_lease_after_the_holder_is_killed(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, settings: Settings, tmp_path: Path
) -> None:
    log_path, port = tmp_path / "server.log", _free_port()
    headers = _keyed(tenant, "killed")
    with _hanging_server(settings, log_path, port) as server:
        await _wait_for_log(server, log_path, "Uvicorn running")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as remote:
            held = asyncio.create_task(remote.post(CUSTOMERS, json=ADA, headers=headers))
            await _wait_for_log(server, log_path, ENTERED)
            # Alive for three lease lengths: its renewals keep the key, and the retry is refused.
            await asyncio.sleep(3 * LEASE_S)
            assert_problem(await client.post(CUSTOMERS, json=ADA, headers=headers), 409, "idempotency_key_in_flight")
            os.killpg(server.pid, signal.SIGKILL)  # kill -9: no cleanup, no release
            server.wait(10)
            killed_at = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                await held
    retry = await client.post(CUSTOMERS, json=ADA, headers=headers)
    while retry.status_code == 409:  # in flight until the dead holder's lease lapses
        assert time.monotonic() - killed_at < 3 * LEASE_S, "the dead request's key was not released in time"
        await asyncio.sleep(int(retry.headers["retry-after"]))
        retry = await client.post(CUSTOMERS, json=ADA, headers=headers)
    assert retry.status_code == 201, retry.text
    assert time.monotonic() - killed_at < LEASE_S + 2
    assert await count_rows(app, Customer) == 1
