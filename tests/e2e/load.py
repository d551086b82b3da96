"""An open-loop load generator: requests start on a fixed schedule whether or not earlier ones finished.

A closed loop (send, wait, send) slows down exactly when the server stalls and so hides the
stall; a schedule keeps the pressure on through a reload or a crash, as real clients would.
Every request's outcome is kept, so a test can say which ones failed and when.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True, slots=True)
class Outcome:
    """One request: when it started (seconds after the load began), and its status or error."""

    started: float
    method: str
    path: str
    status: int | None
    error: str | None
    elapsed: float

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class LoadReport:
    """Everything that happened during one load run."""

    outcomes: list[Outcome] = field(default_factory=list)
    events: dict[str, float] = field(default_factory=dict)

    def failures(self, *, after: float = 0.0, method: str | None = None) -> list[Outcome]:
        """Non-2xx answers and errors of requests started at or after `after`."""
        return [
            outcome
            for outcome in self.outcomes
            if not outcome.ok and outcome.started >= after and (method is None or outcome.method == method)
        ]

    def summary(self) -> str:
        """One line for the test report."""
        statuses: dict[str, int] = {}
        for outcome in self.outcomes:
            key = str(outcome.status) if outcome.status is not None else f"error:{outcome.error}"
            statuses[key] = statuses.get(key, 0) + 1
        slowest = max((outcome.elapsed for outcome in self.outcomes), default=0.0)
        return f"{len(self.outcomes)} requests {statuses}; slowest {slowest:.2f}s; events {self.events}"


Request = Callable[[int], tuple[str, str, dict[str, str], bytes | None]]


async def run_load(
    client: httpx.AsyncClient,
    request: Request,
    *,
    rate: float,
    duration: float,
    actions: dict[str, tuple[float, Callable[[], None]]] | None = None,
) -> LoadReport:
    """Send `rate` requests per second for `duration` seconds; run each action at its time.

    `request(i)` returns (method, path, headers, body) for the i-th request. `actions` maps a name
    to (seconds after the start, callable); the report records when each one ran.
    """
    report = LoadReport()
    start = time.monotonic()

    async def one(index: int) -> None:
        method, path, headers, body = request(index)
        began = time.monotonic()
        try:
            response = await client.request(method, path, headers=headers, content=body)
        except httpx.HTTPError as exc:
            outcome = Outcome(began - start, method, path, None, type(exc).__name__, time.monotonic() - began)
        else:
            outcome = Outcome(began - start, method, path, response.status_code, None, time.monotonic() - began)
        report.outcomes.append(outcome)

    async def act(name: str, at: float, action: Callable[[], None]) -> None:
        await asyncio.sleep(max(0.0, at - (time.monotonic() - start)))
        report.events[name] = time.monotonic() - start
        action()

    async with asyncio.TaskGroup() as tasks:
        for name, (at, action) in (actions or {}).items():
            tasks.create_task(act(name, at, action))
        for index in range(int(rate * duration)):
            await asyncio.sleep(max(0.0, index / rate - (time.monotonic() - start)))
            tasks.create_task(one(index))
    report.outcomes.sort(key=lambda outcome: outcome.started)
    return report
