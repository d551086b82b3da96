"""A steady, bounded load through the edge that records every answer: status, latency, release.

Each request is a new TLS connection to the edge's port on loopback, as a client on the internet
would make it, and asks for /health, which names the release that answered (SHIPYARD_RELEASE).
A request that gets no answer counts as a connection error, one that gets anything but 200 as a
failed request. The load stops by itself after ``max_seconds`` even if nobody stops it.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from deploy.cluster.config import LOOPBACK_HTTPS_PORT
from tests.deploy.cluster.edge_client import SITE

REQUEST_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Answer:
    """One request: its status (0: no answer), how long it took, and the release that answered."""

    status: int
    seconds: float
    release: str


def _read_all(tls: ssl.SSLSocket) -> bytes:
    chunks: list[bytes] = []
    while chunk := tls.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def request(context: ssl.SSLContext) -> Answer:
    """GET /health through the edge on a new connection."""
    started = time.perf_counter()
    try:
        with (
            socket.create_connection(("127.0.0.1", LOOPBACK_HTTPS_PORT), timeout=REQUEST_TIMEOUT_SECONDS) as raw,
            context.wrap_socket(raw, server_hostname=SITE) as tls,
        ):
            tls.sendall(f"GET /health HTTP/1.1\r\nHost: {SITE}\r\nConnection: close\r\n\r\n".encode())
            response = _read_all(tls)
    except OSError:
        return Answer(0, time.perf_counter() - started, "")
    seconds = time.perf_counter() - started
    head, _, body = response.partition(b"\r\n\r\n")
    parts = head.split(b"\r\n", 1)[0].split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    try:
        release = str(json.loads(body).get("release", ""))
    except ValueError:
        release = ""
    return Answer(status, seconds, release)


@dataclass
class SteadyLoad:
    """``clients`` threads, each sending a request every ``pause`` seconds, until stopped."""

    ca_file: Path
    clients: int = 2
    pause: float = 0.1
    max_seconds: float = 900
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def _client(self) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            self.answers.append(request(context))
            self._stop.wait(self.pause)

    def __enter__(self) -> Self:
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(REQUEST_TIMEOUT_SECONDS * 2)

    @property
    def failed(self) -> int:
        """Answers other than 200, connection errors included."""
        return sum(1 for answer in self.answers if answer.status != 200)

    @property
    def connection_errors(self) -> int:
        """Requests that got no answer at all."""
        return sum(1 for answer in self.answers if answer.status == 0)

    def p99(self) -> float:
        """The 99th percentile latency in seconds (nearest rank)."""
        latencies = sorted(answer.seconds for answer in self.answers)
        return latencies[max(0, -(-len(latencies) * 99 // 100) - 1)]

    def releases(self) -> set[str]:
        """Every release that answered."""
        return {answer.release for answer in self.answers if answer.status == 200}

    def summary(self) -> str:
        """One line for a note or an assertion message."""
        return (
            f"{len(self.answers)} requests, {self.failed} failed, {self.connection_errors} connection errors, "
            f"p99 {self.p99() * 1000:.0f} ms, releases {sorted(self.releases())}"
        )
