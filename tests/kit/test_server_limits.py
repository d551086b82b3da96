"""`shipyard serve` bare on loopback: every connection is bounded in header size, header time and body time.

A real `shipyard serve` subprocess and raw sockets, because the limits live below the ASGI app, in the
server's protocol (kit/server_limits.py). The limits are shortened through the settings so that each
test ends in seconds; the defaults are what deploy/README.md and the settings document.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.cli import Cli, Running, cli_env
from tests.fixtures.servers import LOOPBACK, free_port

HEADER_TIMEOUT_S = 1.0
BODY_TIMEOUT_S = 1.5
KEEP_ALIVE_S = 1
MAX_HEADER_BYTES = 8192
# How long past a deadline the server may take to act on a loaded 2-core machine.
SLACK_S = 2.0
TOKEN = re.compile(r"shp_[0-9A-Za-z]{32}_[0-9A-Za-z]{6}")


@dataclass
class Served:
    port: int
    token: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    data_dir = tmp_path_factory.mktemp("serve")
    port = free_port()
    env = cli_env(
        tmp_path_factory.mktemp("pycache"),
        data_dir,
        SHIPYARD_DATABASE_URL=f"sqlite+aiosqlite:///{data_dir / 'shipyard.db'}",
        SHIPYARD_SERVER_HEADER_TIMEOUT_S=str(HEADER_TIMEOUT_S),
        SHIPYARD_SERVER_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
        SHIPYARD_SERVER_KEEP_ALIVE_S=str(KEEP_ALIVE_S),
        SHIPYARD_SERVER_MAX_HEADER_BYTES=str(MAX_HEADER_BYTES),
    )
    running: Running = Cli(env, data_dir).start("serve", "--port", str(port))
    try:
        banner = running.read_until(lambda line: "/api/v1/me" in line, timeout=90)
        token = TOKEN.findall("\n".join(banner))[0]
        _wait_until_listening(port)
        yield Served(port, token)
    finally:
        running.stop()


def _wait_until_listening(port: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection((LOOPBACK, port), timeout=1).close()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        else:
            return


def _connect(served: Served) -> socket.socket:
    connection = socket.create_connection((LOOPBACK, served.port), timeout=10)
    connection.settimeout(HEADER_TIMEOUT_S + BODY_TIMEOUT_S + 2 * SLACK_S)
    return connection


def _read_all(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the socket's timeout)."""
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _read_response(connection: socket.socket) -> bytes:
    """One whole response (head and Content-Length body), leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    declared = re.search(rb"(?im)^content-length: *(\d+)", head)
    assert declared, head
    length = int(declared.group(1))
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, data
        body += chunk
    return head + b"\r\n\r\n" + body


def _request(served: Served, raw: bytes) -> bytes:
    with _connect(served) as connection:
        connection.sendall(raw)
        return connection.recv(65536)


def test_a_normal_request_and_a_kept_alive_second_one_are_answered(served: Served) -> None:
    with _connect(served) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert _read_response(connection).startswith(b"HTTP/1.1 200 ")
        time.sleep(KEEP_ALIVE_S / 2)
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert _read_response(connection).startswith(b"HTTP/1.1 200 ")


def test_connections_that_send_nothing_are_closed_after_the_header_timeout(served: Served) -> None:
    started = time.monotonic()
    idle = [_connect(served) for _ in range(50)]
    try:
        # recv() returns b"" when the server closes; a socket timeout would raise instead.
        assert [_read_all(connection) for connection in idle] == [b""] * 50
    finally:
        for connection in idle:
            connection.close()
    assert time.monotonic() - started < HEADER_TIMEOUT_S + SLACK_S


def test_headers_trickled_a_byte_at_a_time_get_408_at_the_header_deadline(served: Served) -> None:
    started = time.monotonic()
    with _connect(served) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\n")
        connection.settimeout(0.2)
        answer = b""
        while not answer and time.monotonic() - started < HEADER_TIMEOUT_S + SLACK_S:
            try:
                connection.sendall(b"X")  # one more byte of a header name, never finished
                answer = connection.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert json.loads(answer.partition(b"\r\n\r\n")[2])["code"] == "request_timeout"
    assert time.monotonic() - started < HEADER_TIMEOUT_S + SLACK_S


def test_headers_over_the_limit_get_431(served: Served) -> None:
    oversized = b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"a" * (2 * MAX_HEADER_BYTES) + b"\r\n\r\n"
    answer = _request(served, oversized)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    problem = json.loads(answer.partition(b"\r\n\r\n")[2])
    assert (problem["code"], problem["limit_bytes"]) == ("headers_too_large", MAX_HEADER_BYTES)
    assert b"content-type: application/problem+json" in answer.lower()


def test_a_megabyte_of_headers_is_never_answered_200(served: Served) -> None:
    answer = b""
    with _connect(served) as connection:
        try:
            connection.sendall(b"GET /health HTTP/1.1\r\nX-Padding: " + b"a" * 1024 * 1024 + b"\r\n\r\n")
            answer = _read_all(connection)
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed before all of it arrived: refused, as it should be
    assert not answer.startswith(b"HTTP/1.1 200 ")
    assert _request(served, b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n").startswith(b"HTTP/1.1 200 ")


def test_a_body_sent_a_byte_at_a_time_gets_408_at_the_body_deadline(served: Served) -> None:
    body = b'{"name":"Slow","email":"slow@example.com"}'
    head = (
        b"POST /api/v1/customers HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {served.token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )
    started = time.monotonic()
    answer = b""
    with _connect(served) as connection:
        connection.sendall(head)
        connection.settimeout(0.25)
        for byte in body:
            try:
                connection.sendall(bytes([byte]))
                answer = connection.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if answer:
                break
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert BODY_TIMEOUT_S * 0.9 < elapsed < BODY_TIMEOUT_S + SLACK_S


def test_a_body_that_arrives_in_time_is_accepted(served: Served) -> None:
    body = b'{"name":"Quick","email":"quick@example.com"}'
    head = (
        b"POST /api/v1/customers HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {served.token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )
    with _connect(served) as connection:
        connection.sendall(head)
        time.sleep(BODY_TIMEOUT_S / 3)
        connection.sendall(body)
        assert _read_response(connection).startswith(b"HTTP/1.1 201 ")


def test_limits_cannot_be_switched_off(tmp_path: Path) -> None:
    # Zero or negative would disable a bound; the settings refuse them.
    from pydantic import ValidationError

    from shipyard.settings import Settings

    for name in ("server_header_timeout_s", "server_body_timeout_s", "server_keep_alive_s"):
        with pytest.raises(ValidationError):
            Settings.model_validate({"env": "test", "data_dir": tmp_path, name: 0})
    with pytest.raises(ValidationError):
        Settings.model_validate({"env": "test", "data_dir": tmp_path, "server_max_header_bytes": 0})
