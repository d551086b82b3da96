"""One webhook request: signed, sent to the checked address, and judged. No database here."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2

from shipyard.kit import pinned_http
from shipyard.models.base import utcnow
from shipyard.webhooks import signing
from shipyard.webhooks.ssrf import Guard, Target, UnresolvableHostError, UnsafeURLError

USER_AGENT = "Shipyard-Webhooks/1"
GONE = 410
RETRY_AFTER_STATUSES = frozenset({429, 503})
SUCCESS_RANGE = range(200, 300)
REDIRECT_RANGE = range(300, 400)


@dataclass(frozen=True, slots=True)
class Message:
    """What to send: the event (its ID is the `webhook-id`) and the secrets that sign it."""

    event_id: str
    event_type: str
    created_at: datetime
    data: dict[str, Any]
    url: str
    secrets: list[str]
    # The endpoint is a development listener on this machine (never granted in production).
    loopback: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    """What came back. `status_code` is None when no response arrived."""

    succeeded: bool
    status_code: int | None
    latency_ms: int
    response_body: str | None
    error: str | None
    retry_after_s: float | None = None
    gone: bool = False
    # Refused by the SSRF guard, nothing sent: retrying the same address would be refused again.
    blocked: bool = False


def body_of(message: Message) -> str:
    """The exact JSON that is signed and sent (Standard Webhooks' type/timestamp/data shape)."""
    document = {
        "id": message.event_id,
        "type": message.event_type,
        "timestamp": message.created_at.isoformat().replace("+00:00", "Z"),
        "data": message.data,
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date), if it says."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - (now or utcnow())).total_seconds())


async def check(guard: Guard, url: str, *, loopback: bool) -> Target | Outcome:
    """The checked address to send to, or the failed outcome of every delivery to `url` now.

    A batch of deliveries to one URL is checked once: each request then opens its connection to
    the checked address (kit/pinned_http.py), so the address connected to is always one the guard
    allowed, however often DNS changes meanwhile.
    """
    started = time.perf_counter()
    try:
        return await guard.resolve(url, loopback=loopback)
    except UnresolvableHostError as exc:
        # DNS may answer later: retried like a connection failure.
        return _failure(int((time.perf_counter() - started) * 1000), f"dns: {exc}")
    except UnsafeURLError as exc:
        return Outcome(
            succeeded=False,
            status_code=None,
            latency_ms=int((time.perf_counter() - started) * 1000),
            response_body=None,
            error=f"blocked: {exc}",
            blocked=True,
        )


async def send(
    client: httpx2.AsyncClient,
    guard: Guard,
    message: Message,
    *,
    max_body: int,
    timeout_s: float,
    checked: Target | Outcome | None = None,
) -> Outcome:
    """POST the message once; refuses non-public addresses, follows no redirect, keeps 4 KiB of the reply.

    `checked` is `check`'s answer for the message's URL when the caller already has it (a batch).
    """
    started = time.perf_counter()

    def elapsed() -> int:
        return int((time.perf_counter() - started) * 1000)

    target = checked if checked is not None else await check(guard, message.url, loopback=message.loopback)
    if isinstance(target, Outcome):
        return target
    body = body_of(message)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        **signing.headers(message.secrets, message.event_id, utcnow(), body),
    }
    # The receiver's own URL (so kept-alive connections and TLS go by its name), connected to the
    # checked address only: `client` is kit.pinned_http's.
    request = client.build_request("POST", target.url, content=body.encode(), headers=headers)
    try:
        # One deadline for the whole exchange: httpx2's own timeouts are per read, so a receiver
        # that drips a byte at a time would otherwise hold the worker indefinitely.
        async with asyncio.timeout(timeout_s):
            with pinned_http.pinned_to(target.address):
                response = await client.send(request, follow_redirects=False, stream=True)
            try:
                received = b""
                async for chunk in response.aiter_bytes():
                    received += chunk
                    if len(received) >= max_body:
                        break
            finally:
                await response.aclose()
    except (httpx2.TimeoutException, TimeoutError):
        return _failure(elapsed(), "timeout: no response in time")
    except httpx2.HTTPError as exc:
        return _failure(elapsed(), f"connection: {type(exc).__name__}: {exc}"[:500])
    return _judge(response, received[:max_body].decode("utf-8", errors="replace"), elapsed())


def _failure(latency_ms: int, error: str) -> Outcome:
    return Outcome(succeeded=False, status_code=None, latency_ms=latency_ms, response_body=None, error=error)


def _judge(response: httpx2.Response, text: str, latency_ms: int) -> Outcome:
    status = response.status_code
    if status in SUCCESS_RANGE:
        return Outcome(succeeded=True, status_code=status, latency_ms=latency_ms, response_body=text, error=None)
    error = f"http {status}"
    if status in REDIRECT_RANGE:
        error = f"redirect to {response.headers.get('location', '?')[:200]} not followed"
    retry_after = parse_retry_after(response.headers.get("retry-after")) if status in RETRY_AFTER_STATUSES else None
    return Outcome(
        succeeded=False,
        status_code=status,
        latency_ms=latency_ms,
        response_body=text,
        error=error,
        retry_after_s=retry_after,
        gone=status == GONE,
    )
