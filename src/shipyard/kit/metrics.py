"""Prometheus metrics, in single-process or gunicorn multiprocess mode."""

from __future__ import annotations

import os
from collections.abc import Sequence

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.registry import Collector

UNMATCHED_ROUTE = "<unmatched>"


def multiprocess_dir() -> str | None:
    """Where gunicorn workers share metric files, if multiprocess mode is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class HttpMetrics:
    """The HTTP metrics of one app instance, on a registry of its own so tests can build many apps."""

    def __init__(self, version: str, *, collectors: Sequence[Collector] = ()) -> None:
        # Collectors that read shared state at scrape time (the backup record): the same in every process.
        self.collectors = tuple(collectors)
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in self.collectors:
            self.registry.register(collector)
        self.request_duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        # The histogram's child per (method, route, status): `labels()` validates and locks on every
        # call, and every request observes one. It holds the children the histogram holds, no more.
        self._durations: dict[tuple[str, str, int], Histogram] = {}
        self.in_flight = Gauge(
            "http_requests_in_flight",
            "HTTP requests being answered now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.build_info = Gauge(
            "shipyard_build_info",
            "Always 1; the labels say which build is running.",
            ["version"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.build_info.labels(version=version).set(1)
        self.sign_ins = Counter(
            "shipyard_sign_ins",
            "Finished sign-ins by provider (a configured Authentik source, else `other`), result and reason.",
            ["provider", "result", "reason"],
            registry=self.registry,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one answered request in `http_request_duration_seconds`."""
        child = self._durations.get((method, route, status))
        if child is None:
            child = self._durations[method, route, status] = self.request_duration.labels(method, route, str(status))
        child.observe(seconds)

    def count_sign_in(self, *, provider: str | None, known: set[str], reason: str | None = None) -> None:
        """One sign-in that succeeded (no `reason`) or failed; only configured providers become labels."""
        label = provider if provider in known else ("none" if provider is None else "other")
        result = "success" if reason is None else "failure"
        self.sign_ins.labels(provider=label, result=result, reason=reason or "").inc()

    def render(self) -> tuple[bytes, str]:
        """The exposition text for `/metrics` (merged across workers in multiprocess mode)."""
        if multiprocess_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
            for collector in self.collectors:
                registry.register(collector)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
