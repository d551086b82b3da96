"""Prometheus metrics, in single-process or gunicorn multiprocess mode."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

UNMATCHED_ROUTE = "<unmatched>"


def multiprocess_dir() -> str | None:
    """Where gunicorn workers share metric files, if multiprocess mode is on."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class HttpMetrics:
    """The HTTP metrics of one app instance, on a registry of its own so tests can build many apps."""

    def __init__(self, version: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.request_duration = Histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["method", "route", "status"],
            registry=self.registry,
        )
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

    def render(self) -> tuple[bytes, str]:
        """The exposition text for `/metrics` (merged across workers in multiprocess mode)."""
        if multiprocess_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped upstream
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
