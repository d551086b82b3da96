"""Sentry, with the real SDK sending to a loopback server that speaks the envelope protocol."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest
import sentry_sdk
from fastapi import FastAPI
from pydantic import SecretStr

from shipyard.app import create_app
from shipyard.kit.sentry import configure_sentry
from shipyard.settings import InvalidSettingError, Settings
from shipyard.worker.broker import create_broker
from tests.fixtures.lifespan import running_lifespan
from tests.fixtures.tenants import Tenant, create_tenant

PLANTED_PASSWORD = "hunter2-correct-horse"
PLANTED_WEBHOOK_SECRET = "whsec_c2VjcmV0LXdlYmhvb2sta2V5LXBsYW50ZWQ="
PLANTED_EMAIL = "victim.person@customer.example"
PLANTED_COOKIE = "shipyard_session=planted-cookie-value-7f3a"


class _EnvelopeSink(BaseHTTPRequestHandler):
    """Accepts `POST /api/<project>/envelope/` as Sentry does and keeps every envelope's raw bytes."""

    received: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        if self.path.endswith("/envelope/"):
            type(self).received.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: Any) -> None:
        """Quiet: the test reads the envelopes."""


def _events(envelopes: list[bytes]) -> list[dict[str, Any]]:
    """The `event` items of the envelopes (header line, then item header and payload line pairs)."""
    events = []
    for envelope in envelopes:
        lines = envelope.split(b"\n")[1:]
        for item_header, payload in zip(lines[::2], lines[1::2], strict=False):
            if item_header and json.loads(item_header).get("type") == "event":
                events.append(json.loads(payload))
    return events


@pytest.fixture
def sentry_sink() -> Iterator[tuple[str, list[bytes]]]:
    """A DSN pointing at the loopback sink, and what the sink received; the SDK is switched off after."""
    _EnvelopeSink.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EnvelopeSink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://publickey@127.0.0.1:{server.server_port}/42", _EnvelopeSink.received
    finally:
        sentry_sdk.init()  # no DSN: the SDK stops sending
        server.shutdown()
        server.server_close()


@pytest.fixture
async def sentry_app(settings: Settings, sentry_sink: tuple[str, list[bytes]]) -> AsyncIterator[FastAPI]:
    """The app with Sentry on, and a route that fails with secrets in its message."""
    app = create_app(settings.model_copy(update={"sentry_dsn": SecretStr(sentry_sink[0])}))

    async def leak() -> None:
        msg = (
            f"failed for {PLANTED_EMAIL} with password={PLANTED_PASSWORD} "
            f"signing with {PLANTED_WEBHOOK_SECRET} cookie: {PLANTED_COOKIE}"
        )
        raise RuntimeError(msg)

    app.add_api_route("/api/v1/_sentry_probe/leak", leak, methods=["GET"])
    async with running_lifespan(app):
        yield app


async def test_an_unhandled_exception_reaches_sentry_with_its_request_id_and_without_secrets(
    settings: Settings, sentry_app: FastAPI, sentry_sink: tuple[str, list[bytes]]
) -> None:
    tenant: Tenant = await create_tenant(sentry_app, "Acme", "acme")
    transport = httpx.ASGITransport(app=sentry_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        response = await client.get(
            "/api/v1/_sentry_probe/leak",
            headers={**tenant.headers, "X-Request-ID": "req-sentry-1", "Cookie": PLANTED_COOKIE},
        )
    assert response.status_code == 500
    sentry_sdk.flush(timeout=10)

    _, envelopes = sentry_sink
    events = _events(envelopes)
    assert len(events) == 1
    event = events[0]
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["tags"]["request_id"] == "req-sentry-1"
    assert event["environment"] == settings.env.value
    assert event["release"].startswith("shipyard@")
    raw = b"".join(envelopes).decode()
    for secret in (
        tenant.token,
        tenant.token.split("_")[1],
        PLANTED_PASSWORD,
        PLANTED_WEBHOOK_SECRET.removeprefix("whsec_"),
        PLANTED_EMAIL,
        "planted-cookie-value",
    ):
        assert secret not in raw


async def test_without_a_dsn_nothing_is_sent(settings: Settings, sentry_sink: tuple[str, list[bytes]]) -> None:
    app = create_app(settings)

    async def explode() -> None:
        msg = "not for sentry"
        raise RuntimeError(msg)

    app.add_api_route("/api/v1/_sentry_probe/explode", explode, methods=["GET"])
    async with running_lifespan(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            assert (await client.get("/api/v1/_sentry_probe/explode")).status_code == 500
    sentry_sdk.flush(timeout=2)
    assert sentry_sink[1] == []


@pytest.mark.database_independent
def test_a_malformed_dsn_stops_start_up_naming_the_setting_not_the_value() -> None:
    with pytest.raises(InvalidSettingError) as refused:
        Settings.model_validate({"sentry_dsn": "https://not-a-dsn-secretkey"})
    message = str(refused.value)
    assert "SHIPYARD_SENTRY_DSN" in message
    assert "secretkey" not in message
    assert "\n" not in message


@pytest.mark.database_independent
def test_an_empty_dsn_leaves_sentry_off() -> None:
    assert Settings.model_validate({"sentry_dsn": ""}).sentry_dsn is None


async def test_a_failed_job_reaches_sentry_with_the_request_id_that_caused_it(
    sentry_sink: tuple[str, list[bytes]], tmp_path: Path
) -> None:
    settings = Settings.model_validate(
        {"env": "test", "data_dir": tmp_path, "redis_url": None, "sentry_dsn": sentry_sink[0]}
    )
    assert configure_sentry(settings, release="0.0.0-test")
    broker = create_broker(settings)

    async def explode() -> None:
        msg = f"job failed for {PLANTED_EMAIL}"
        raise RuntimeError(msg)

    task = broker.register_task(explode, task_name="test.sentry.explode")
    await broker.startup()
    try:
        sent = await task.kicker().with_labels(request_id="req-job-1").kiq()
        result = await sent.wait_result(timeout=10)
    finally:
        await broker.shutdown()
    assert result.is_err
    sentry_sdk.flush(timeout=10)

    [event] = _events(sentry_sink[1])
    assert event["exception"]["values"][-1]["type"] == "RuntimeError"
    assert event["tags"]["request_id"] == "req-job-1"
    assert PLANTED_EMAIL not in b"".join(sentry_sink[1]).decode()
