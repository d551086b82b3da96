"""What every `shipyard verify` check shares: the target, one HTTP exchange, and a check's result."""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import typer

ONE_YEAR_S = 365 * 24 * 3600
# Caddy renews a certificate when a third of its lifetime is left (a 90-day ACME certificate at
# 30 days, its own 12-hour internal certificates at 4 hours). Less than a fifth left means
# renewal has been failing for a while.
RENEWAL_OVERDUE_FRACTION = 0.2
MAX_BODY_BYTES = 4 * 1024 * 1024
SAFE_REFERRER_POLICIES = frozenset(
    {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin", "origin"},
)
CADDYFILE = "deploy/caddy/Caddyfile"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one check: what was seen and, when it failed, how to fix it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True, slots=True)
class Response:
    """One HTTP answer, its body capped at MAX_BODY_BYTES."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        """Every value of header `name`, joined as one line, or None."""
        values = self.headers.get_all(name)
        return ", ".join(values) if values else None

    def json(self) -> Any:  # noqa: ANN401 - whatever JSON the server sent
        """The body, parsed as JSON."""
        return json.loads(self.body)


class FetchError(Exception):
    """The request got no HTTP response (connection, TLS or protocol failure)."""


@dataclass(frozen=True, slots=True)
class Target:
    """The deployment under test: its HTTPS and plain-HTTP addresses and how to trust it."""

    host: str
    port: int
    http_host: str
    http_port: int
    context: ssl.SSLContext
    timeout: float

    def get(self, path: str, headers: dict[str, str] | None = None, *, tls: bool = True) -> Response:
        """GET `path` over HTTPS (or plain HTTP); FetchError when no HTTP answer arrives."""
        connection: http.client.HTTPConnection
        if tls:
            connection = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self.context)
        else:
            connection = http.client.HTTPConnection(self.http_host, self.http_port, timeout=self.timeout)
        try:
            connection.request("GET", path, headers={"User-Agent": "shipyard-verify", **(headers or {})})
            response = connection.getresponse()
            return Response(response.status, response.headers, response.read(MAX_BODY_BYTES))
        except (OSError, http.client.HTTPException) as exc:
            raise FetchError(describe(exc)) from exc
        finally:
            connection.close()


def describe(exc: BaseException) -> str:
    """A one-line account of a failed exchange."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verification failed: {exc.verify_message}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def ok(name: str, detail: str) -> CheckResult:
    """A passed check."""
    return CheckResult(name, ok=True, detail=detail)


def fail(name: str, detail: str, fix: str) -> CheckResult:
    """A failed check, with what to do about it."""
    return CheckResult(name, ok=False, detail=detail, fix=fix)


def make_target(url: str, ca_file: str | Path | None, http_url: str | None, timeout: float) -> Target:
    """The Target for the command's arguments; a usage error for a URL that is not https:// (or http://)."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if parts.scheme != "https" or not parts.hostname:
        raise typer.BadParameter(f"expected an https:// URL, got {url!r}")
    plain = urlsplit(http_url) if http_url else None
    if plain is not None and (plain.scheme != "http" or not plain.hostname):
        raise typer.BadParameter(f"expected an http:// URL, got {http_url!r}")
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    return Target(
        host=parts.hostname,
        port=parts.port or 443,
        http_host=plain.hostname if plain and plain.hostname else parts.hostname,
        http_port=(plain.port or 80) if plain else 80,
        context=context,
        timeout=timeout,
    )
