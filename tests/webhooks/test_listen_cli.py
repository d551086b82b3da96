"""`shipyard webhooks listen` against a real `shipyard serve` with embedded jobs, both as subprocesses."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from standardwebhooks import Webhook

from shipyard.webhooks import signing
from tests.conftest import DB_KIND
from tests.fixtures.cli import Cli, Running, cli_env
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.timeout(120)
TOKEN = re.compile(r"shp_[0-9A-Za-z]{32}_[0-9A-Za-z]{6}")
LISTENING = re.compile(r"Listening on (http://127\.0\.0\.1:\d+/webhooks) .*temporary endpoint (we_\w+)")


@pytest.fixture
def cli(database_urls: tuple[str, str], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """`shipyard` on a fresh SQLite file (migrated by `serve`) or the test's migrated PostgreSQL database."""
    (tmp_path / "fresh").mkdir()
    url = database_urls[0] if DB_KIND == "postgres" else f"sqlite+aiosqlite:///{tmp_path / 'fresh' / 'shipyard.db'}"
    return Cli(cli_env(tmp_path_factory.mktemp("pycache"), tmp_path, SHIPYARD_DATABASE_URL=url), tmp_path)


async def _wait_until_up(base: str) -> None:
    async with asyncio.timeout(30), httpx.AsyncClient(base_url=base) as http:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await http.get("/health")).status_code == 200:
                    return
            await asyncio.sleep(0.2)


def _listening(listener: Running) -> tuple[str, str]:
    line = listener.read_until(lambda text: LISTENING.search(text) is not None, timeout=30)[-1]
    found = LISTENING.search(line)
    assert found is not None
    return found.group(1), found.group(2)


async def _endpoint_ids(api: httpx.AsyncClient) -> list[str]:
    listed = await api.get("/api/v1/webhook-endpoints")
    assert listed.status_code == 200, listed.text
    return [endpoint["id"] for endpoint in listed.json()["data"]]


async def test_listen_prints_a_verified_event_and_refuses_a_tampered_one(cli: Cli) -> None:
    port = free_port()
    server = cli.start("serve", "--port", str(port))
    try:
        banner = server.read_until(lambda line: "/api/v1/me" in line, timeout=60)
        token = TOKEN.findall("\n".join(banner))[0]
        base = f"http://127.0.0.1:{port}"
        await _wait_until_up(base)
        listener = cli.start("webhooks", "listen", "--max-events", "1", "--json", "--timeout", "30")
        url, endpoint_id = _listening(listener)
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as api:
            assert endpoint_id in await _endpoint_ids(api)
            # A forger who does not hold this session's secret.
            body = json.dumps({"id": "evt_forged", "type": "customer.created", "data": {}})
            forged = Webhook(signing.new_secret()).sign("evt_forged", datetime.now(UTC), body)
            headers = {"webhook-id": "evt_forged", "webhook-timestamp": str(int(datetime.now(UTC).timestamp()))}
            async with httpx.AsyncClient() as attacker:
                refused = await attacker.post(url, content=body, headers={**headers, "webhook-signature": forged})
            assert refused.status_code == 400
            listener.read_until(lambda line: line.startswith("refused evt_forged"), timeout=10)

            created = await api.post("/api/v1/customers", json={"name": "Ada", "email": "ada@example.com"})
            assert created.status_code == 201, created.text
            assert listener.process.wait(timeout=30) == 0
            output = listener.stop()
            events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
            assert [(event["type"], event["data"]["id"]) for event in events] == [
                ("customer.created", created.json()["id"])
            ]
            assert events[0]["id"].startswith("evt_")
            assert endpoint_id not in await _endpoint_ids(api)  # removed when the command stopped

            # Unbounded, it runs until SIGTERM, and removes its endpoint then too.
            unbounded = cli.start("webhooks", "listen")
            _, second_id = _listening(unbounded)
            assert second_id in await _endpoint_ids(api)
            assert f"Removed temporary endpoint {second_id}" in unbounded.stop()
            assert second_id not in await _endpoint_ids(api)
    finally:
        server.stop()


def test_listen_is_refused_in_production(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    cli = Cli(cli_env(tmp_path_factory.mktemp("pycache"), tmp_path, SHIPYARD_ENV="production"), tmp_path)
    refused = cli.run("webhooks", "listen", "--timeout", "1")
    assert refused.returncode == 1
    assert refused.stdout == ""
    [line] = refused.stderr.strip().splitlines()
    assert "production" in line
    assert line.startswith("error:")
