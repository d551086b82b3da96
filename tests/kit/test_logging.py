"""Access logs: one structured line per request, and never a secret in any log output."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.requests import Request

from shipyard.identity import token_format
from shipyard.kit.logging import configure_logging, get_logger
from shipyard.kit.redaction import scrub
from shipyard.kit.request_context import RequestContextMiddleware
from tests.fixtures.tenants import Tenant

COOKIE_VALUE = "cookie-value-4f1c9e2b7a"
PASSWORD = "pa55word-that-must-not-leak"
SECRET_HEADER_VALUE = "x-api-key-value-77aa"


class LogCapture:
    """Everything the app logs (structlog and plain stdlib records) while the capture is on."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.strip()]

    def access_lines(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("event") == "request"]

    def clear(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()


@contextmanager
def capturing(*, json_lines: bool, level: str = "INFO", stream: io.StringIO | None = None) -> Iterator[LogCapture]:
    """Route all logging, at `level`, into a buffer; restore the previous setup afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_structlog = structlog.get_config()
    capture = LogCapture()
    if stream is not None:
        capture.stream = stream
    configure_logging(json_lines=json_lines, level=level, stream=capture.stream)
    # The test client's own "HTTP Request: ..." lines are not the app's.
    test_client_logger = logging.getLogger("httpx")
    saved_client_level = test_client_logger.level
    test_client_logger.setLevel(logging.WARNING)
    try:
        yield capture
    finally:
        test_client_logger.setLevel(saved_client_level)
        structlog.configure(**saved_structlog)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """JSON-lines logging into a buffer for the duration of the test."""
    with capturing(json_lines=True) as capture:
        yield capture


async def _customer(client: httpx.AsyncClient, tenant: Tenant) -> str:
    created = await client.post(
        "/api/v1/customers", json={"name": "Ada", "email": "ada@example.com"}, headers=tenant.headers
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def test_each_request_logs_one_json_line_with_the_route_template(
    client: httpx.AsyncClient, tenant: Tenant, logs: LogCapture
) -> None:
    customer_id = await _customer(client, tenant)
    logs.clear()
    response = await client.get(f"/api/v1/customers/{customer_id}", headers=tenant.headers)
    assert response.status_code == 200
    lines = logs.lines()
    assert len(lines) == 1, logs.text
    line = lines[0]
    assert line["event"] == "request"
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["method"] == "GET"
    assert line["route"] == "/api/v1/customers/{customer_id}"
    assert customer_id not in logs.text
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], int | float)
    assert line["duration_ms"] >= 0
    assert line["org"] == tenant.organization_id
    assert line["user_id"] == tenant.user_id
    assert line["token_id"] == tenant.token_id
    assert line["result"] == "ok"
    assert line["level"] == "info"


async def test_client_errors_and_unmatched_paths_are_logged_once(
    client: httpx.AsyncClient, tenant: Tenant, logs: LogCapture
) -> None:
    missing = await client.get("/api/v1/customers/cus_nope", headers=tenant.headers)
    unauthenticated = await client.get("/api/v1/customers")
    unmatched = await client.get("/no/such/path/42", headers={"X-Request-ID": "trace-me-1"})
    assert (missing.status_code, unauthenticated.status_code, unmatched.status_code) == (404, 401, 404)
    access = logs.access_lines()
    assert [(line["status"], line["result"]) for line in access] == [
        (404, "client_error"),
        (401, "client_error"),
        (404, "client_error"),
    ]
    assert [line["route"] for line in access] == [
        "/api/v1/customers/{customer_id}",
        "/api/v1/customers",
        "<unmatched>",
    ]
    assert access[1]["org"] is None
    assert access[1]["token_id"] is None
    assert access[2]["request_id"] == "trace-me-1"


@pytest.fixture
def leaky_route(app: FastAPI) -> None:
    """A route that fails the way real code does: it logs what it holds, then raises with it."""

    async def leaky(request: Request) -> None:
        authorization = request.headers["authorization"]
        token = authorization.split()[-1]
        body = await request.json()
        # A third-party library logging through plain stdlib logging, with the credential in the text.
        third_party = logging.getLogger("thirdparty.client")
        third_party.warning("retrying with Authorization: %s", authorization)
        third_party.warning("sent Cookie: %s", request.headers["cookie"])
        third_party.warning("upstream said no to %s", token)
        # Our own code logging structured data that holds secrets under telling names.
        get_logger("shipyard.test").warning(
            "outbound_call",
            headers={"Authorization": authorization, "Cookie": request.headers["cookie"]},
            password=body["password"],
            api_key=SECRET_HEADER_VALUE,
        )
        msg = f"upstream rejected token {token} (dsn: host=db user=app password={body['password']})"
        raise RuntimeError(msg)

    app.add_api_route("/api/v1/_leaky", leaky, methods=["POST"])


async def test_no_secret_reaches_any_log_line(
    client: httpx.AsyncClient, tenant: Tenant, logs: LogCapture, leaky_route: None
) -> None:
    assert leaky_route is None
    unknown_token = token_format.generate()
    secret_headers = {
        "Authorization": f"Bearer {tenant.token}",
        "Cookie": f"session={COOKIE_VALUE}",
        "X-Api-Key": SECRET_HEADER_VALUE,
    }
    body = {"name": "Ada", "email": "ada@example.com", "password": PASSWORD}
    responses = [
        # A token and a cookie on a normal call, a token in the query string, a password in a body.
        await client.get(f"/api/v1/customers?token={tenant.token}&api_key={tenant.token}", headers=secret_headers),
        await client.post("/api/v1/customers", json=body, headers=secret_headers),
        # A refused token: 401, audited.
        await client.get("/api/v1/customers", headers={"Authorization": f"Bearer {unknown_token}"}),
        await client.get("/api/v1/me", headers={"Authorization": f"Basic {tenant.token}"}),
        # A crash whose exception message and log calls carry the token, the cookie and the password.
        await client.post("/api/v1/_leaky", json=body, headers=secret_headers),
    ]
    statuses = [response.status_code for response in responses]
    assert statuses[0] == 200
    assert statuses[1] in {201, 422}
    assert statuses[2:] == [401, 401, 500]
    text = logs.text
    # The capture did see the crash and the third-party lines, so their absence below means something.
    assert "unhandled_exception" in text
    assert "RuntimeError" in text
    assert "thirdparty.client" in text
    assert "outbound_call" in text
    assert len(logs.access_lines()) == len(responses)
    for secret in (tenant.token, unknown_token, COOKIE_VALUE, PASSWORD, SECRET_HEADER_VALUE):
        assert secret not in text, secret
    # Every line is still well-formed JSON after redaction.
    assert all(isinstance(line, dict) for line in logs.lines())
    for response in responses:
        for secret in (tenant.token, unknown_token, PASSWORD):
            assert secret not in response.text


async def test_console_format_is_one_readable_line_per_request(client: httpx.AsyncClient, tenant: Tenant) -> None:
    with capturing(json_lines=False) as capture:
        response = await client.get("/api/v1/customers", headers=tenant.headers)
    assert response.status_code == 200
    lines = capture.text.splitlines()
    assert len(lines) == 1, capture.text
    assert not lines[0].startswith("{")
    assert "route=/api/v1/customers" in lines[0]
    assert f"request_id={response.headers['x-request-id']}" in lines[0]
    assert tenant.token not in capture.text


def _bare_app(*, access_log: bool = True) -> FastAPI:
    """Just the request-context middleware and one route: what reaches the access line is what was sent."""
    app = FastAPI(middleware=[Middleware(RequestContextMiddleware, metrics=None, access_log=access_log)])

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    return app


async def _raw_call(app: FastAPI, method: str, path: str, headers: list[tuple[bytes, bytes]] | None = None) -> int:
    """One request as raw ASGI, so that the method and headers reach the middleware exactly as given."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers or [],
        "client": ("192.0.2.1", 4000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return int(sent[0]["status"])


async def test_the_access_line_still_scrubs_the_method_and_request_id_it_was_sent(logs: LogCapture) -> None:
    # The access logger trusts the keys whose values it builds itself; these two come from the client.
    token = token_format.generate()
    status = await _raw_call(_bare_app(), token, "/things/1", [(b"x-request-id", b"password:hunter2")])
    assert status == 405
    [line] = logs.access_lines()
    assert line["method"] == "shp_[REDACTED]"
    assert line["request_id"] == "password:[REDACTED]"
    assert token not in logs.text
    assert "hunter2" not in logs.text


async def test_the_access_line_follows_the_level_and_the_switch() -> None:
    with capturing(json_lines=True, level="WARNING") as capture:
        assert await _raw_call(_bare_app(), "GET", "/things/1") == 200
        get_logger("shipyard.test").info("below_the_level")
        logging.getLogger("thirdparty").info("below the level too")
        get_logger("shipyard.test").warning("at_the_level")
        logging.getLogger("thirdparty").warning("foreign at the level")
    assert [(line["event"], line["level"]) for line in capture.lines()] == [
        ("at_the_level", "warning"),
        ("foreign at the level", "warning"),
    ]
    with capturing(json_lines=True) as capture:
        assert await _raw_call(_bare_app(access_log=False), "GET", "/things/1") == 200
    assert capture.text == ""


def test_an_exception_line_carries_the_traceback(logs: LogCapture) -> None:
    try:
        msg = "the cause"
        raise ValueError(msg)  # noqa: TRY301 - raised here to be logged with its traceback
    except ValueError:
        get_logger("shipyard.test").exception("step_failed", step=2)
    [line] = logs.lines()
    assert (line["event"], line["level"], line["logger"], line["step"]) == ("step_failed", "error", "shipyard.test", 2)
    assert line["exception"].startswith("Traceback (most recent call last):")
    assert line["exception"].endswith("ValueError: the cause")


def test_values_the_fast_encoder_refuses_are_still_written(logs: LogCapture) -> None:
    log = get_logger("shipyard.test")
    log.info("big", count=2**70)  # beyond 64 bits: written by the stdlib encoder instead
    log.info("keys", by_status={200: 3, 404: 1})  # non-string keys
    log.info("text", name="Zoë ✓", odd=object.__new__(Decimalish))  # non-ASCII, and an unknown type
    big, keys, text = logs.lines()
    assert big["count"] == 2**70
    assert keys["by_status"] == {"200": 3, "404": 1}
    assert text["name"] == "Zoë ✓"
    assert text["odd"] == "<decimal-ish>"


class Decimalish:
    def __repr__(self) -> str:
        return "<decimal-ish>"


def test_timestamps_are_iso_8601_utc_with_a_z(logs: LogCapture, monkeypatch: pytest.MonkeyPatch) -> None:
    log = get_logger("shipyard.test")
    log.info("now")
    stamped = datetime.fromisoformat(logs.lines()[0]["timestamp"])
    assert stamped.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamped) < timedelta(minutes=1)
    # Exactly what `datetime.isoformat()` writes, "Z" for "+00:00": no fraction at a whole second.
    for nanoseconds in (1_700_000_000_123_456_789, 1_700_000_000_000_000_999, 1_700_000_001_000_001_000):
        monkeypatch.setattr(time, "time_ns", lambda nanoseconds=nanoseconds: nanoseconds)
        log.info("then")
        expected = datetime.fromtimestamp(nanoseconds // 1000 / 1_000_000, UTC).isoformat().replace("+00:00", "Z")
        assert logs.lines()[-1]["timestamp"] == expected
    assert [line["timestamp"] for line in logs.lines()[1:]] == [
        "2023-11-14T22:13:20.123456Z",
        "2023-11-14T22:13:20Z",
        "2023-11-14T22:13:21.000001Z",
    ]


def test_a_logger_follows_every_reconfiguration() -> None:
    # Loggers are module globals, used before a test captures logs and after it restores the setup.
    log = get_logger("shipyard.test")
    with capturing(json_lines=True) as outer:
        log.info("one")
        saved = structlog.get_config()
        with capturing(json_lines=True, level="WARNING") as inner:
            log.info("two")
            log.warning("three")
        structlog.configure(**saved)
        log.info("four")
    assert [line["event"] for line in outer.lines()] == ["one", "four"]
    assert [line["event"] for line in inner.lines()] == ["three"]


class _TornStream(io.StringIO):
    """A stream whose writes may be cut in two by another thread, as a pipe's may be."""

    def write(self, text: str) -> int:
        half = len(text) // 2
        written = super().write(text[:half])
        time.sleep(0)  # let another thread write in between, if nothing stops it
        return written + super().write(text[half:])


def test_configuring_logging_undoes_a_level_uvicorn_set_on_its_own_logger() -> None:
    # What `uvicorn.Config(log_level="warning")` leaves behind in a process that builds one.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
    with capturing(json_lines=True) as capture:
        logging.getLogger("uvicorn.error").info("started %s", "here")
    assert [line["event"] for line in capture.lines()] == ["started here"]


def test_lines_from_our_loggers_and_foreign_ones_never_interleave() -> None:
    per_thread = 150

    def ours(n: int) -> None:
        for i in range(per_thread):
            get_logger("shipyard.test").info("ours", thread=n, i=i, padding="o" * 200)

    def foreign(n: int) -> None:
        for i in range(per_thread):
            logging.getLogger("uvicorn.error").info("foreign %d %d %s", n, i, "f" * 200)

    with capturing(json_lines=True, stream=_TornStream()) as capture:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(3) for work in (ours, foreign)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    lines = capture.lines()  # each parses: none was cut by another
    assert len(lines) == len(threads) * per_thread
    assert {line["logger"] for line in lines} == {"shipyard.test", "uvicorn.error"}


def test_a_jwt_is_masked_wherever_it_appears() -> None:
    id_token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl-_x"
    assert scrub(f"logout at https://idp.example/end?hint={id_token}&x=1") == (
        "logout at https://idp.example/end?hint=[REDACTED_JWT]&x=1"
    )
    assert scrub(("call", (id_token, "2026-01-01"))) == ["call", ["[REDACTED_JWT]", "2026-01-01"]]
